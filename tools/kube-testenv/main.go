// Command drover-kube is the one binary the test environment needs: an embedded
// etcd, kube-apiserver and kubectl, all at the same Kubernetes version. No
// package registry ships kube-apiserver, so it is built from the Go module proxy
// (see tools/build-kube-testenv.sh).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func usage() {
	fmt.Fprintf(os.Stderr, `usage: %s <command> [flags]

commands:
  apiserver   run kube-apiserver (all remaining flags are passed to it)
  etcd        run an embedded single-member etcd
  kubectl     run kubectl
  version     print the embedded Kubernetes version
`, filepath.Base(os.Args[0]))
}

// init runs on the main OS thread (the Go runtime locks the main goroutine to
// it during package initialisation), and that thread never exits, so the
// parent-death signal set here stays armed for the life of the process.
func init() {
	if os.Getenv("DROVER_PDEATHSIG") == "1" {
		armParentDeathSignal()
	}
}

// armParentDeathSignal makes the kernel SIGKILL this process when the process
// that spawned it dies, even by SIGKILL, so a crashed test runner leaves no
// API servers behind. Prctl alone has a race: if the parent died between
// fork and prctl the signal never comes, so the parent passes its pid and we
// compare; a slow poll covers whatever else slips through (for instance a
// spawning thread that is not the parent's main thread).
func armParentDeathSignal() {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "drover-kube: prctl(PR_SET_PDEATHSIG): %v\n", err)
		os.Exit(1)
	}
	expected := os.Getppid()
	if s := os.Getenv("DROVER_PARENT_PID"); s != "" {
		if pid, err := strconv.Atoi(s); err == nil {
			expected = pid
		}
	}
	if os.Getppid() != expected {
		os.Exit(1)
	}
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != expected {
				_ = unix.Kill(os.Getpid(), unix.SIGKILL)
			}
		}
	}()
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "apiserver":
		os.Exit(runAPIServer(args))
	case "etcd":
		os.Exit(runEtcd(args))
	case "kubectl":
		os.Exit(runKubectl(args))
	case "version":
		printVersion()
	case "-h", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "drover-kube: unknown command %q\n", cmd)
		usage()
		os.Exit(2)
	}
}
