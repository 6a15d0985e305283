package main

import "go.temporal.io/server/common/headers"

func serverVersion() string {
	return "Temporal server " + headers.ServerVersion + " (drover-temporal, authorization on)"
}
