package main

import (
	"fmt"

	"k8s.io/component-base/version"
)

func printVersion() {
	info := version.Get()
	fmt.Printf("%s (major %s, minor %s, %s, %s)\n", info.GitVersion, info.Major, info.Minor, info.GoVersion, info.Platform)
}
