package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// nodeDecoder walks the Alertmanager sections of the config node by node,
// so that each problem is reported with its own line and decoding goes on
// after it: one pass finds every error. It replaces the mirror structs
// and the 391-line unmarshaller of Alertmanager's config package.
type nodeDecoder struct {
	// dir is the config file's folder, against which relative paths are
	// resolved.
	dir  string
	errs []error
}

func (d *nodeDecoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, atLine(n, format, args...))
}

// isNull reports whether n is absent or an explicit null.
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// deref follows aliases (*name) to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// describe names a node's type for "want X, got Y" errors.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	default:
		return "something else"
	}
}

// pair is one key and value of a mapping.
type pair struct{ k, v *yaml.Node }

// pairs returns the keys and values of the mapping n, with merge keys
// (<<: *defaults) expanded; keys written in n win over merged ones, as in
// yaml.v2 and yaml.v3. Duplicate keys are reported, as yaml.v3 does when it
// decodes into a struct. A null n is an empty mapping; anything else that is
// not a mapping is reported and gives nil.
func (d *nodeDecoder) pairs(n *yaml.Node, what string) []pair {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: want a mapping, got %s", what, describe(n))
		return nil
	}
	var own, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, d.mergePairs(v, what)...)
			continue
		}
		if first, ok := seen[k.Value]; ok {
			d.errorf(k, "%s: key %q is repeated (first at line %d)", what, k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{k, v})
	}
	for _, p := range merged {
		if _, ok := seen[p.k.Value]; !ok {
			seen[p.k.Value] = p.k
			own = append(own, p)
		}
	}
	return own
}

// mergePairs returns the pairs a merge key's value brings in: one mapping
// or a list of them, the first one winning.
func (d *nodeDecoder) mergePairs(v *yaml.Node, what string) []pair {
	v = deref(v)
	if v.Kind == yaml.SequenceNode {
		var out []pair
		for _, m := range v.Content {
			out = append(out, d.pairs(m, what)...)
		}
		return out
	}
	return d.pairs(v, what)
}

// fields calls f with each key of the mapping n; a key f does not know
// (f returns false) is an error, as unknown fields are everywhere in the file.
func (d *nodeDecoder) fields(n *yaml.Node, what string, f func(key string, v *yaml.Node) bool) {
	for _, p := range d.pairs(n, what) {
		if !f(p.k.Value, p.v) {
			d.errorf(p.k, "field %s not found in %s", p.k.Value, what)
		}
	}
}

// items returns the elements of the list n (nil for null), reporting
// anything else.
func (d *nodeDecoder) items(n *yaml.Node, what string) []*yaml.Node {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: want a list, got %s", what, describe(n))
		return nil
	}
	return n.Content
}

// decode decodes n into out with yaml.v3's rules for plain Go values
// (strings, bools, numbers, durations), reporting a failure at n's line.
func (d *nodeDecoder) decode(n *yaml.Node, what string, out any) bool {
	if err := n.Decode(out); err != nil {
		d.errorf(n, "%s: %s", what, yamlMessage(err))
		return false
	}
	return true
}

// str decodes a scalar as a string: as in Alertmanager (yaml.v2), numbers
// and booleans are taken as written, and null is "".
func (d *nodeDecoder) str(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s: want a string, got %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// strMap decodes a mapping of strings to strings, calling f with each key
// and value in file order.
func (d *nodeDecoder) strMap(n *yaml.Node, what string, f func(k, v *yaml.Node, key, value string)) {
	for _, p := range d.pairs(n, what) {
		key, ok1 := d.str(p.k, what)
		value, ok2 := d.str(p.v, fmt.Sprintf("%s: %s", what, key))
		if ok1 && ok2 {
			f(p.k, p.v, key, value)
		}
	}
}

// strict decodes n into out with unknown fields rejected: for types of
// other modules (HTTPClientConfig, TimeInterval) whose UnmarshalYAML
// methods do the checking. yaml.v3 decodes a Node leniently, so n is written
// out and read back with KnownFields set; "field X not found" errors get the
// line of key X in the original, others the line of n.
func (d *nodeDecoder) strict(n *yaml.Node, what string, out any) bool {
	b, err := yaml.Marshal(expandAliases(n))
	if err != nil {
		d.errorf(n, "%s: %v", what, err)
		return false
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err = dec.Decode(out)
	if err == nil || errors.Is(err, io.EOF) {
		return true
	}
	msgs := []string{err.Error()}
	if te := (*yaml.TypeError)(nil); errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		line := n.Line
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			rel, _ := strconv.Atoi(sm[1])
			line = n.Line + rel - 1
			m = m[len(sm[0]):]
		}
		// "in type config.plain": the prefix already says where.
		m = typeName.ReplaceAllString(m, "")
		if sm := fieldNotFound.FindStringSubmatch(m); sm != nil {
			if k := findKey(n, sm[1]); k != nil {
				line = k.Line
			}
		}
		d.errs = append(d.errs, &posError{line: line, err: fmt.Errorf("%s: %s", what, m)})
	}
	return false
}

var (
	typeName      = regexp.MustCompile(` in type [\w.]+`)
	fieldNotFound = regexp.MustCompile(`^field (\S+) not found`)
)

// yamlMessage strips yaml.v3's "yaml: unmarshal errors: line N:" framing.
func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
	return yamlLine.ReplaceAllString(msg, "")
}

// findKey returns the first mapping key called name in n, depth first.
func findKey(n *yaml.Node, name string) *yaml.Node {
	n = deref(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				return n.Content[i]
			}
		}
	}
	for _, c := range n.Content {
		if k := findKey(c, name); k != nil {
			return k
		}
	}
	return nil
}

// expandAliases returns a copy of n with aliases replaced by what they
// stand for, so that the copy can be written out on its own.
func expandAliases(n *yaml.Node) *yaml.Node {
	n = deref(n)
	if n == nil {
		return nil
	}
	c := *n
	c.Anchor = ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, ch := range n.Content {
		c.Content[i] = expandAliases(ch)
	}
	return &c
}
