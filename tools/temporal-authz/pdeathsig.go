package main

import (
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// armParentDeathSignal makes the kernel kill this server when the process that started it
// dies (DROVER_PDEATHSIG=1), so a crashed test run leaves no server holding its ports. The
// parent's pid (DROVER_PARENT_PID) closes the race between fork and prctl; a slow poll is
// the backstop.
func armParentDeathSignal() {
	if os.Getenv("DROVER_PDEATHSIG") != "1" {
		return
	}
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	expected, err := strconv.Atoi(os.Getenv("DROVER_PARENT_PID"))
	if err != nil {
		expected = os.Getppid()
	}
	if os.Getppid() != expected {
		os.Exit(1)
	}
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != expected {
				os.Exit(1)
			}
		}
	}()
}
