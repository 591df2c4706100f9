package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoCLIContextBelowActions holds package cli to its shape: a command's Action (a
// function literal given as a Command's Action, or as the App's error hooks) fills an
// options struct from its flags with an xOptionsFrom function and hands it to a plain
// function, so that only those two kinds of function ever see a *cli.Context. Any other
// function, named or literal, that takes one fails the test.
func TestNoCLIContextBelowActions(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	hooks := map[string]bool{"Action": true, "OnUsageError": true, "ExitErrHandler": true}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		alias := cliImportName(f)
		if alias == "" {
			continue
		}
		takesContext := func(ft *ast.FuncType) bool {
			for _, p := range ft.Params.List {
				if star, ok := p.Type.(*ast.StarExpr); ok {
					if sel, ok := star.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Context" {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == alias {
							return true
						}
					}
				}
			}
			return false
		}
		// Function literals allowed to take a *cli.Context: hooks' values.
		allowed := map[*ast.FuncLit]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && hooks[k.Name] {
					if lit, ok := n.Value.(*ast.FuncLit); ok {
						allowed[lit] = true
					}
				}
			case *ast.AssignStmt:
				for i, lhs := range n.Lhs {
					if sel, ok := lhs.(*ast.SelectorExpr); ok && hooks[sel.Sel.Name] && i < len(n.Rhs) {
						if lit, ok := n.Rhs[i].(*ast.FuncLit); ok {
							allowed[lit] = true
						}
					}
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				checked++
				if takesContext(n.Type) && !strings.HasSuffix(n.Name.Name, "OptionsFrom") {
					t.Errorf("%s: %s takes a *cli.Context: only an Action and an xOptionsFrom converter may; pass options or plain values",
						fset.Position(n.Pos()), n.Name.Name)
				}
			case *ast.FuncLit:
				if takesContext(n.Type) && !allowed[n] {
					t.Errorf("%s: a function literal takes a *cli.Context but is no Action: pass options or plain values", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no function declarations found: is the test running in package cli's folder?")
	}
}

// cliImportName is the name f imports urfave/cli under ("" when it does not).
func cliImportName(f *ast.File) string {
	for _, imp := range f.Imports {
		if strings.Trim(imp.Path.Value, `"`) != "github.com/urfave/cli/v2" {
			continue
		}
		if imp.Name != nil {
			return imp.Name.Name
		}
		return "cli"
	}
	return ""
}
