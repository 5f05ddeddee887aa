package silences

import (
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// The index answers Mutes without looking at every silence. Each
// non-expired silence that has an equality matcher with a non-empty value
// is filed under one such (name, value) pair: an alert can only be muted by
// it if the alert carries exactly that label, so Mutes looks up one bucket
// per label of the alert. A regexp matcher that matches only a small set
// of non-empty strings, such as alertname=~"A|B" (common: UIs make these
// when several alerts are silenced at once), works the same way, with the
// silence filed under each (name, string) of the set; an alert has one
// value per name, so it still finds the silence at most once. Silences with
// neither (only negations or open regexps) go into the scan list, which
// Mutes always checks; it is small in practice.
//
// An index is immutable once published: readers load it through an
// atomic.Pointer without locks, and writers derive a new one copy-on-write.
// To keep a write cheap with 10,000 silences, buckets are spread over
// shards by a hash of the label value, and a write clones only the shards
// it touches (and the buckets it changes), never the whole index.
type index struct {
	seed   maphash.Seed
	shards [indexShards]map[indexKey][]*entry
	scan   []scanGroup // sorted by name
	// filed remembers where each indexed silence is filed, so that it can
	// be removed. It is shared between versions: only the writer, holding
	// the Store's write lock, uses it.
	filed map[string][]indexKey
}

const indexShards = 256

// indexKey is a (label name, label value) under which silences are filed.
// A key with an empty value stands for the scan group of that name.
type indexKey struct{ name, value string }

// scanGroup holds the scan-list silences whose cheapest matcher is on
// name, so that Mutes looks the alert's value up once for all of them
// (typically many instance=~"prefix.*" silences share one group).
type scanGroup struct {
	name    model.LabelName
	entries []*entry
}

func (ix *index) shard(value string) int {
	return int(maphash.String(ix.seed, value) % indexShards)
}

func (ix *index) bucket(k indexKey) []*entry {
	return ix.shards[ix.shard(k.value)][k]
}

// buildIndex indexes the entries of all that have not expired at now.
func buildIndex(seed maphash.Seed, all map[string]*entry, now time.Time) *index {
	ix := &index{seed: seed, filed: make(map[string][]indexKey)}
	// Sorted so that the choice of keys, and so the index, is reproducible.
	for _, id := range slices.Sorted(maps.Keys(all)) {
		if e := all[id]; e.EndsAt.After(now) {
			ix.insert(e, func(int) {})
		}
	}
	return ix
}

// update returns a new index without the entries removed (by ID) and with
// the entries added, sharing everything it did not need to change. An
// added entry that has already expired is not indexed.
func (ix *index) update(remove []string, add []*entry, now time.Time) *index {
	next := *ix // copies the array of shard maps, not the maps
	var cloned [indexShards]bool
	own := func(sh int) {
		if !cloned[sh] {
			next.shards[sh] = maps.Clone(next.shards[sh])
			cloned[sh] = true
		}
	}
	for _, id := range remove {
		next.remove(id, own)
	}
	for _, e := range add {
		if e.EndsAt.After(now) {
			next.insert(e, own)
		}
	}
	return &next
}

// insert files e, calling own(shard) before changing a shard's map. It
// never writes into an existing slice: readers of older versions may be
// iterating it.
func (ix *index) insert(e *entry, own func(int)) {
	keys := ix.chooseKeys(e)
	if keys == nil {
		name := e.check[0].name
		ix.scan = withScanGroup(ix.scan, name, func(list []*entry) []*entry {
			return append(slices.Clip(list), e)
		})
		ix.filed[e.ID] = []indexKey{{name: string(name)}}
		return
	}
	for _, k := range keys {
		sh := ix.shard(k.value)
		own(sh)
		if ix.shards[sh] == nil {
			ix.shards[sh] = make(map[indexKey][]*entry)
		}
		ix.shards[sh][k] = append(slices.Clip(ix.shards[sh][k]), e)
	}
	ix.filed[e.ID] = keys
}

func (ix *index) remove(id string, own func(int)) {
	keys, ok := ix.filed[id]
	if !ok {
		return // not indexed: it had expired
	}
	delete(ix.filed, id)
	without := func(list []*entry) []*entry {
		out := make([]*entry, 0, len(list))
		for _, e := range list {
			if e.ID != id {
				out = append(out, e)
			}
		}
		return out
	}
	for _, k := range keys {
		if k.value == "" {
			ix.scan = withScanGroup(ix.scan, model.LabelName(k.name), without)
			continue
		}
		sh := ix.shard(k.value)
		own(sh)
		if list := without(ix.shards[sh][k]); len(list) > 0 {
			ix.shards[sh][k] = list
		} else {
			delete(ix.shards[sh], k)
		}
	}
}

// withScanGroup returns a copy of groups with the group of name replaced
// by change(its entries), dropped if that is empty.
func withScanGroup(groups []scanGroup, name model.LabelName, change func([]*entry) []*entry) []scanGroup {
	groups = slices.Clone(groups)
	i, found := slices.BinarySearchFunc(groups, name, func(g scanGroup, n model.LabelName) int {
		return strings.Compare(string(g.name), string(n))
	})
	if !found {
		groups = slices.Insert(groups, i, scanGroup{name: name})
	}
	if groups[i].entries = change(groups[i].entries); len(groups[i].entries) == 0 {
		groups = slices.Delete(groups, i, i+1)
	}
	return groups
}

// chooseKeys picks the option whose buckets are currently smallest, so
// that many silences sharing a common label (alertname="X", plus an
// instance each) spread out over the instances instead of piling into one
// bucket. Nil means the scan list.
func (ix *index) chooseKeys(e *entry) []indexKey {
	var best []indexKey
	bestCost := 0
	for _, keys := range e.options {
		cost := 0
		for _, k := range keys {
			cost += 1 + len(ix.bucket(k))
		}
		if best == nil || cost < bestCost {
			best, bestCost = keys, cost
		}
	}
	return best
}

// mutes appends to ids the IDs of the indexed silences active at now that
// match lset. It does not allocate unless it finds one.
func (ix *index) mutes(ids []string, lset model.LabelSet, now time.Time) []string {
	for name, value := range lset {
		if value == "" {
			continue
		}
		for _, e := range ix.bucket(indexKey{string(name), string(value)}) {
			if e.mutes(lset, now) {
				ids = append(ids, e.ID)
			}
		}
	}
	for _, g := range ix.scan {
		v := string(lset[g.name])
		for _, e := range g.entries {
			if e.active(now) && e.check[0].matches(v) && e.matchesFrom(lset, 1) {
				ids = append(ids, e.ID)
			}
		}
	}
	return ids
}

// candidates returns every indexed silence that may match lset, whatever
// its state: a superset of the matching non-expired silences, each once.
func (ix *index) candidates(lset model.LabelSet) []*entry {
	var out []*entry
	for name, value := range lset {
		if value != "" {
			out = append(out, ix.bucket(indexKey{string(name), string(value)})...)
		}
	}
	for _, g := range ix.scan {
		out = append(out, g.entries...)
	}
	return out
}
