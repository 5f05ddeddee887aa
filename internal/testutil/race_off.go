//go:build !race

package testutil

// raceEnabled is whether the tests run under the race detector; the
// binaries they build for end-to-end tests are built with it too.
const raceEnabled = false
