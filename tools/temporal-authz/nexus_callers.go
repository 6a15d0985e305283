package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/server/common/authorization"
)

// Open-source Temporal has no list of the namespaces allowed to call a Nexus endpoint (Temporal
// Cloud has): any workflow in any namespace may schedule an operation on any endpoint, and the
// server then dispatches it to the endpoint's target with its own authority. For drover that
// would let one site make another site's sub-manager work. This authorizer closes it where
// the caller is known, at the frontend: a request in namespace N that schedules a Nexus
// operation on endpoint E (a workflow task completing with ScheduleNexusOperation commands, or
// a standalone StartNexusOperationExecution) is refused unless a rule lets N call E. Every
// other decision is the default authorizer's.
//
// Rules come from DROVER_NEXUS_CALLERS: semicolon-separated `ENDPOINT_GLOB=NS[,NS…]`, e.g.
// `drover-site-*=drover` (control namespace `drover`). An endpoint no rule matches may be called from anywhere.
type nexusCallerRule struct {
	endpoints string
	callers   []string
}

type nexusCallerAuthorizer struct {
	inner authorization.Authorizer
	rules []nexusCallerRule
}

func parseNexusCallerRules(spec string) ([]nexusCallerRule, error) {
	var rules []nexusCallerRule
	for _, part := range strings.Split(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		glob, callers, ok := strings.Cut(part, "=")
		if !ok || glob == "" || callers == "" {
			return nil, fmt.Errorf("DROVER_NEXUS_CALLERS: %q is not ENDPOINT_GLOB=NAMESPACE[,NAMESPACE…]", part)
		}
		if _, err := path.Match(glob, ""); err != nil {
			return nil, fmt.Errorf("DROVER_NEXUS_CALLERS: bad endpoint pattern %q: %w", glob, err)
		}
		rules = append(rules, nexusCallerRule{endpoints: glob, callers: strings.Split(callers, ",")})
	}
	return rules, nil
}

func withNexusCallerRules(inner authorization.Authorizer) (authorization.Authorizer, error) {
	rules, err := parseNexusCallerRules(os.Getenv("DROVER_NEXUS_CALLERS"))
	if err != nil || len(rules) == 0 {
		return inner, err
	}
	return &nexusCallerAuthorizer{inner: inner, rules: rules}, nil
}

// allowed reports whether namespace may call endpoint.
func (a *nexusCallerAuthorizer) allowed(endpoint, namespace string) bool {
	for _, rule := range a.rules {
		if ok, _ := path.Match(rule.endpoints, endpoint); !ok {
			continue
		}
		for _, caller := range rule.callers {
			if caller == namespace {
				return true
			}
		}
		return false
	}
	return true
}

func nexusEndpointsOf(request any) []string {
	switch r := request.(type) {
	case *workflowservice.RespondWorkflowTaskCompletedRequest:
		var endpoints []string
		for _, command := range r.GetCommands() {
			if attrs := command.GetScheduleNexusOperationCommandAttributes(); attrs != nil {
				endpoints = append(endpoints, attrs.GetEndpoint())
			}
		}
		return endpoints
	case *workflowservice.StartNexusOperationExecutionRequest:
		return []string{r.GetEndpoint()}
	}
	return nil
}

func (a *nexusCallerAuthorizer) Authorize(ctx context.Context, claims *authorization.Claims, target *authorization.CallTarget) (authorization.Result, error) {
	for _, endpoint := range nexusEndpointsOf(target.Request) {
		if !a.allowed(endpoint, target.Namespace) {
			return authorization.Result{
				Decision: authorization.DecisionDeny,
				Reason:   fmt.Sprintf("namespace %s may not call Nexus endpoint %s", target.Namespace, endpoint),
			}, nil
		}
	}
	return a.inner.Authorize(ctx, claims, target)
}
