// Package archtest holds the architecture test: the real import graph must
// keep to the layers drawn in docs/ARCHITECTURE.md, so that the document and
// the code cannot drift apart. It has no code of its own.
package archtest
