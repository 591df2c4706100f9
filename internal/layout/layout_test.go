// Package layout holds the tests that keep the code's shape as documented: what each package
// may import (the README's "How it fits together" table, held to go list), that the engine
// reaches plugins only through their contracts, and the size limits of files and functions.
package layout

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
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

// readmeTable reads the package table of the README's "How it fits together": each row's
// packages and the set of module packages the row says they may import.
func readmeTable(t *testing.T) (rows [][]string, allowed []map[string]bool) {
	t.Helper()
	f, err := os.Open("../../README.md")
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
		t.Fatal(`README.md has no package table under "## How it fits together"`)
	}
	return rows, allowed
}

// TestReadmeLayoutMatchesGoList: every package is in the README's table, and each row's
// import column is exactly what its packages import.
func TestReadmeLayoutMatchesGoList(t *testing.T) {
	pkgs := goList(t, "./...")
	rows, allowed := readmeTable(t)
	documented := map[string]bool{}
	for i, row := range rows {
		used := map[string]bool{}
		for _, p := range row {
			documented[p] = true
			imports, ok := pkgs[p]
			if !ok {
				t.Errorf("README lists %s, which is not a package with code", p)
				continue
			}
			for _, imp := range imports {
				used[imp] = true
				if !allowed[i][imp] {
					t.Errorf("%s imports %s, which the README's row for it does not list", p, imp)
				}
			}
		}
		for imp := range allowed[i] {
			if !used[imp] {
				t.Errorf("README says %v import %s; none does", row, imp)
			}
		}
	}
	for p := range pkgs {
		if !documented[p] {
			t.Errorf("package %s is missing from the README's table", p)
		}
	}
}

// TestRunnerMainIsSmall: the runner binary is only a main that picks the plugins.
func TestRunnerMainIsSmall(t *testing.T) {
	b, err := os.ReadFile("../../runner/main.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n > 30 {
		t.Errorf("runner/main.go has %d lines; it should only blank-import plugins and call cli.Main", n)
	}
}

// TestFileAndFunctionSizes: no non-test Go file over 400 lines and no function over 100, so
// that a file holds one concern and a function one step.
func TestFileAndFunctionSizes(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "ownrunner" && filepath.Base(filepath.Dir(path)) == "examples") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		if n := fset.Position(f.End()).Line; n > 400 {
			t.Errorf("%s: %d lines (at most 400)", path, n)
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Body != nil {
				if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > 100 {
					t.Errorf("%s: func %s has %d lines (at most 100)", path, fn.Name.Name, n)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
