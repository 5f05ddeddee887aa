package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWantedSpreadsAndMovesLittle: rendezvous hashing spreads groups
// evenly over replicas whose IDs differ in a few bytes, and a replica
// joining takes only its share, from each of the others.
func TestWantedSpreadsAndMovesLittle(t *testing.T) {
	ids := []string{"host-0a1b2c3d", "host-99ff0011", "host-5e6f7a8b"}
	const groups = 900
	before := map[string]string{}
	count := map[string]int{}
	for g := range groups {
		key := fmt.Sprintf("/etc/alerter/rules.yml;group-%d", g)
		before[key] = wanted(ids, key)
		count[before[key]]++
	}
	for _, id := range ids {
		require.InDelta(t, groups/3, count[id], groups/3*0.2, "groups of %s: %v", id, count)
	}
	joined := append(ids, "host-5e6f7a8c")
	moved := 0
	for key, owner := range before {
		now := wanted(joined, key)
		if now != owner {
			require.Equal(t, "host-5e6f7a8c", now, "a group moves only to the replica that joined")
			moved++
		}
	}
	require.InDelta(t, groups/4, moved, groups/4*0.25, "the joining replica takes its share")
}
