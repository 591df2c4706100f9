package spec

import (
	"errors"
	"maps"
	"strings"

	"github.com/ddpm-runner/ddpm-runner/plugins"
)

// checkTable checks one table's keys against their declarations and fills in defaults, as
// the plugin's own Resolve does, with errors located at the key's line.
func checkTable(d *document, table string, tbl map[string]any, decls []plugins.Param, plugin string,
	loc func(string) string) (plugins.Values, error) {
	raw := tbl
	if plugin != "" {
		raw = maps.Clone(tbl)
		delete(raw, "name")
	}
	p := &plugins.Plugin{Name: plugin, Params: decls}
	vals, err := p.Resolve(raw)
	var pe *plugins.ParamError
	if !errors.As(err, &pe) {
		return vals, err
	}
	if pe.Err != nil {
		return nil, d.errf(loc(table+"."+pe.Key), "key %q in [%s]: %v", pe.Key, table, pe.Err)
	}
	takes := "[" + table + "] takes"
	if plugin != "" {
		takes = plugin + " takes"
	}
	return nil, d.errf(loc(table+"."+pe.Key), "unknown key %q in [%s] (%s: %s)%s", pe.Key, table, takes,
		strings.Join(pe.Valid, ", "), pe.Suggestion())
}
