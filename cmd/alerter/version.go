package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	promversion "github.com/prometheus/common/version"
)

// releaseVersion is the version of this source tree. A release build may
// set another, and the revision, branch, build user and date, with -ldflags
// on github.com/prometheus/common/version, as Prometheus' builds do:
//
//	go build -ldflags "-X github.com/prometheus/common/version.Version=0.2.0 \
//	  -X github.com/prometheus/common/version.Revision=$(git rev-parse HEAD)" ./cmd/alerter
const releaseVersion = "0.2.0"

// version returns alerter's version, in semantic-version form (tools such
// as amtool compare it): the one set with -ldflags, else the module's when
// built with go install module@version, else releaseVersion.
func version() string {
	if promversion.Version != "" {
		return promversion.Version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v := info.Main.Version
		if v[0] == 'v' {
			v = v[1:]
		}
		return v
	}
	return releaseVersion
}

// revision returns the commit alerter was built from: the one set with
// -ldflags, else the one Go recorded, else "unknown".
func revision() string {
	if promversion.Revision != "" {
		return promversion.Revision
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// printVersion prints the version as Prometheus' programs do.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "alerter, version %s (branch: %s, revision: %s)\n", version(), orUnknown(promversion.Branch), revision())
	fmt.Fprintf(w, "  build user:       %s\n", orUnknown(promversion.BuildUser))
	fmt.Fprintf(w, "  build date:       %s\n", orUnknown(promversion.BuildDate))
	fmt.Fprintf(w, "  go version:       %s\n", runtime.Version())
	fmt.Fprintf(w, "  platform:         %s/%s\n", runtime.GOOS, runtime.GOARCH)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
