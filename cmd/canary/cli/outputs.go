package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/stats"
)

// stdoutPath is the file name that stands for standard output in the
// output flags (--out -, --html -, --junit -, --hdr-log -).
const stdoutPath = "-"

// outputs are the files `canary run` writes besides its summary. They are
// opened before the run, so that a bad path fails fast.
type outputs struct {
	hdr, out, html, junit io.Writer // nil when not asked for
	// toStdout: one of them is standard output, so the summary goes to
	// stderr instead, leaving stdout to what was asked for.
	toStdout bool
	files    []*os.File
}

func openOutputs(f *runFlags, stdout io.Writer) (*outputs, error) {
	o := &outputs{}
	var onStdout string
	for _, x := range []struct {
		dst        *io.Writer
		flag, path string
	}{{&o.hdr, "hdr-log", f.hdrLog}, {&o.out, "out", f.out}, {&o.html, "html", f.html}, {&o.junit, "junit", f.junit}} {
		switch x.path {
		case "":
			continue
		case stdoutPath:
			if onStdout != "" {
				o.close()
				return nil, fmt.Errorf("--%s - and --%s -: only one output can go to stdout", onStdout, x.flag)
			}
			onStdout = x.flag
			o.toStdout = true
			*x.dst = stdout
			continue
		}
		fh, err := os.Create(x.path)
		if err != nil {
			o.close()
			return nil, fmt.Errorf("--%s: %w", x.flag, err)
		}
		o.files = append(o.files, fh)
		*x.dst = fh
	}
	for _, x := range []struct{ flag, path string }{{"cpu-profile", f.cpuProfile}, {"mem-profile", f.memProfile}} {
		if x.path == stdoutPath {
			o.close()
			return nil, fmt.Errorf("--%s -: a profile is binary; give it a file", x.flag)
		}
	}
	return o, nil
}

func (o *outputs) close() {
	for _, fh := range o.files {
		fh.Close()
	}
}

func (o *outputs) write(rep *stats.Report) error {
	if o.out != nil {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	if o.html != nil {
		if err := report.WriteHTML(o.html, rep); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
	}
	if o.junit != nil {
		if err := report.WriteJUnit(o.junit, rep); err != nil {
			return fmt.Errorf("--junit: %w", err)
		}
	}
	return nil
}

// writeOutput writes path through fn, or stdout when path is "-".
func writeOutput(path string, stdout io.Writer, fn func(io.Writer) error) error {
	if path == stdoutPath {
		return fn(stdout)
	}
	return writeFile(path, fn)
}
