package dispatch

import (
	"strings"

	"github.com/prometheus/common/model"
)

// Tree returns the routing tree as `amtool config routes show` prints it
// after its "Routing tree:" heading: a "." line, then one line per route
// with its matchers ("default-route" for none), continue and receiver,
// drawn as the treeprint package draws trees.
func (r *Route) Tree() string {
	root := &treeNode{}
	r.tree(root)
	return root.String()
}

func (r *Route) tree(parent *treeNode) {
	n := parent.add(r.slug(true, true))
	for _, c := range r.Routes {
		c.tree(n)
	}
}

// MatchingTree returns the routes an alert with lset takes, as
// `amtool config routes test --tree` prints them after its "Matching
// routes:" heading: the path from the root to each matching route, with
// the receiver on the routes that the alert ends at.
func (r *Route) MatchingTree(lset model.LabelSet) string {
	root := &treeNode{}
	r.matchingTree(root, lset)
	return root.String()
}

func (r *Route) matchingTree(parent *treeNode, lset model.LabelSet) {
	n := parent.add(r.slug(false, false))
	final := true
	for _, c := range r.Routes {
		if !c.Matchers.Matches(lset) {
			continue
		}
		c.matchingTree(n, lset)
		final = false
		if !c.Continue {
			break
		}
	}
	if final {
		n.value = r.slug(false, true)
	}
}

// slug is a route's line in the trees, as amtool writes it.
func (r *Route) slug(showContinue, showReceiver bool) string {
	var b strings.Builder
	if len(r.Matchers) == 0 {
		b.WriteString("default-route")
	} else {
		b.WriteString(r.Matchers.String())
	}
	if showContinue && r.Continue {
		b.WriteString("  continue: true")
	}
	if showReceiver {
		b.WriteString("  receiver: ")
		b.WriteString(r.Opts.Receiver)
	}
	return b.String()
}

// treeNode is a node of a text tree drawn like github.com/xlab/treeprint,
// which amtool uses: the same edges and the same indentation (a vertical
// bar followed by two no-break spaces and a space).
type treeNode struct {
	value    string
	children []*treeNode
}

func (t *treeNode) add(value string) *treeNode {
	c := &treeNode{value: value}
	t.children = append(t.children, c)
	return c
}

// String draws the tree below t, whose own line is ".".
func (t *treeNode) String() string {
	var b strings.Builder
	b.WriteString(".\n")
	t.write(&b, "")
	return b.String()
}

func (t *treeNode) write(b *strings.Builder, prefix string) {
	for i, c := range t.children {
		edge, indent := "├── ", "│\u00a0\u00a0 "
		if i == len(t.children)-1 {
			edge, indent = "└── ", "    "
		}
		b.WriteString(prefix + edge + c.value + "\n")
		c.write(b, prefix+indent)
	}
}
