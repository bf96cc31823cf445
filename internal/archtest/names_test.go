package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// declared is what the module's non-test Go files declare: top-level names
// by package name, and Type.Method pairs.
type declared struct {
	pkgs    map[string]map[string]bool
	methods map[string]bool // "Type.Member": methods, fields, interface methods
	types   map[string]bool
}

func declarations(t *testing.T) declared {
	t.Helper()
	d := declared{pkgs: map[string]map[string]bool{}, methods: map[string]bool{}, types: map[string]bool{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && path != "../.." && (strings.HasPrefix(e.Name(), ".") || e.Name() == "testdata") {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		names := d.pkgs[f.Name.Name]
		if names == nil {
			names = map[string]bool{}
			d.pkgs[f.Name.Name] = names
		}
		for _, decl := range f.Decls {
			switch x := decl.(type) {
			case *ast.FuncDecl:
				if x.Recv == nil {
					names[x.Name.Name] = true
					continue
				}
				recv := x.Recv.List[0].Type
				if s, ok := recv.(*ast.StarExpr); ok {
					recv = s.X
				}
				if id, ok := recv.(*ast.Ident); ok {
					d.methods[id.Name+"."+x.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range x.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
						d.types[s.Name.Name] = true
						var members *ast.FieldList
						switch ty := s.Type.(type) {
						case *ast.StructType:
							members = ty.Fields
						case *ast.InterfaceType:
							members = ty.Methods
						}
						if members != nil {
							for _, f := range members.List {
								for _, n := range f.Names {
									d.methods[s.Name.Name+"."+n.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	return d
}

// A name like `pkg.Name` or `Type.Method` in the document.
var codeRefRE = regexp.MustCompile("`([a-zA-Z][a-zA-Z0-9]*)\\.([A-Za-z][A-Za-z0-9]*)")

// The function, type and method names docs/ARCHITECTURE.md tells a reader
// to grep for exist: `slo.Judge` is declared in package slo,
// `Daemon.evaluate` is a method of type Daemon.
func TestDocumentedNamesExist(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	require.NoError(t, err)
	d := declarations(t)
	checked := 0
	for _, m := range codeRefRE.FindAllStringSubmatch(string(doc), -1) {
		x, y := m[1], m[2]
		switch {
		case d.pkgs[x] != nil:
			checked++
			assert.True(t, d.pkgs[x][y], "docs/ARCHITECTURE.md names %s.%s: package %s declares no %s", x, y, x, y)
		case d.types[x]:
			checked++
			assert.True(t, d.methods[x+"."+y], "docs/ARCHITECTURE.md names %s.%s: type %s has no method or field %s", x, y, x, y)
		}
	}
	assert.Greater(t, checked, 50, "the document names the functions it talks about")
}
