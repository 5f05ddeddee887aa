package dispatch

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves an aggregation group, a
// delivery or a timer goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
