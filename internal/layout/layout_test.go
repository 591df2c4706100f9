// Package layout holds the tests that keep the code's shape as documented: what each package
// may import (the package table of docs/architecture.md, held to go list), that the engine
// reaches plugins only through their contracts, and that the runner binary is only a main
// that picks the plugins.
package layout

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/ddpm-runner/ddpm-runner/"

// families are the plugin packages, which the engine must not import.
var families = []string{"schedules", "predictors", "losses", "samplers", "datasets", "networks", "metrics"}

// goList maps each package with non-test Go files to its imports inside the module.
func goList(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-f", `{{.ImportPath}}|{{len .GoFiles}}|{{join .Imports ","}}`}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		if parts[1] == "0" || !strings.HasPrefix(parts[0], module) {
			continue
		}
		var own []string
		for _, imp := range strings.Split(parts[2], ",") {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				own = append(own, rel)
			}
		}
		pkgs[strings.TrimPrefix(parts[0], module)] = own
	}
	return pkgs
}

// TestEngineImportsNoFamily: the engine reaches plugins only through the registry and the
// contracts, so no plugin family is among its dependencies, direct or not.
func TestEngineImportsNoFamily(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./engine")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if rel, ok := strings.CutPrefix(dep, module); ok && slices.Contains(families, rel) {
			t.Errorf("engine depends on the plugin family %s", rel)
		}
	}
}

// architectureDoc is the page whose "How it fits together" table says what each package holds
// and may import.
const architectureDoc = "docs/architecture.md"

// layoutTable reads the package table under "## How it fits together" in architectureDoc: each
// row's packages and the set of module packages the row says they may import.
func layoutTable(t *testing.T) (rows [][]string, allowed []map[string]bool) {
	t.Helper()
	f, err := os.Open("../../" + architectureDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	pkgName := regexp.MustCompile("`([a-z/]+)`")
	note := regexp.MustCompile(`\([^)]*\)`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## How it fits together"
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		var pkgs []string
		for _, m := range pkgName.FindAllStringSubmatch(cells[1], -1) {
			pkgs = append(pkgs, m[1])
		}
		may := map[string]bool{}
		for _, imp := range strings.Split(note.ReplaceAllString(cells[3], ""), ",") {
			if imp = strings.TrimSpace(imp); imp != "" {
				may[imp] = true
			}
		}
		rows, allowed = append(rows, pkgs), append(allowed, may)
	}
	if len(rows) == 0 {
		t.Fatalf(`%s has no package table under "## How it fits together"`, architectureDoc)
	}
	return rows, allowed
}

// TestLayoutTableMatchesGoList: every package is in the table of docs/architecture.md, and
// each row's import column is exactly what its packages import.
func TestLayoutTableMatchesGoList(t *testing.T) {
	pkgs := goList(t, "./...")
	rows, allowed := layoutTable(t)
	documented := map[string]bool{}
	for i, row := range rows {
		used := map[string]bool{}
		for _, p := range row {
			documented[p] = true
			imports, ok := pkgs[p]
			if !ok {
				t.Errorf("%s lists %s, which is not a package with code", architectureDoc, p)
				continue
			}
			for _, imp := range imports {
				used[imp] = true
				if !allowed[i][imp] {
					t.Errorf("%s imports %s, which the row for it in %s does not list", p, imp, architectureDoc)
				}
			}
		}
		for imp := range allowed[i] {
			if !used[imp] {
				t.Errorf("%s says %v import %s; none does", architectureDoc, row, imp)
			}
		}
	}
	for p := range pkgs {
		if !documented[p] {
			t.Errorf("package %s is missing from the table in %s", p, architectureDoc)
		}
	}
}

// TestRunnerIsOnlyAMain: the runner binary only picks the plugins and hands over to cli.Main,
// so that a runner of one's own (examples/ownrunner) is the same few lines: its one function
// is main, which calls cli.Main, and it imports cli, os and, blank, the plugin packages.
func TestRunnerIsOnlyAMain(t *testing.T) {
	files, err := filepath.Glob("../../runner/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in runner/ (%v)", err)
	}
	fset := token.NewFileSet()
	callsMain := false
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path := strings.Trim(imp.Path.Value, `"`)
			blank := imp.Name != nil && imp.Name.Name == "_"
			if !blank && path != "os" && path != module+"cli" {
				t.Errorf("%s imports %s; the runner should import only os, cli and (blank) plugin packages", name, path)
			}
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Name.Name != "main" || d.Recv != nil {
					t.Errorf("%s declares func %s; the runner should only have main", name, d.Name.Name)
					continue
				}
				ast.Inspect(d, func(n ast.Node) bool {
					if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Main" {
						if x, ok := sel.X.(*ast.Ident); ok && x.Name == "cli" {
							callsMain = true
						}
					}
					return true
				})
			case *ast.GenDecl:
				if d.Tok != token.IMPORT {
					t.Errorf("%s declares a %s; the runner should only have main", name, d.Tok)
				}
			}
		}
	}
	if !callsMain {
		t.Error("runner's main does not call cli.Main")
	}
}
