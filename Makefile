# Two commands are all a new user needs: `make up` and `make test`. Both install what is
# missing into .tools/ first.
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/node_modules/.bin:$(PATH)
NODE := node --disable-warning=ExperimentalWarning

.PHONY: up test check bootstrap typecheck lint format sub-manager bench clean netns-demo

## up: start drover on the embedded default (Temporal dev server, PGlite, sandbox site `local`)
up:
	@tools/bootstrap.sh
	@$(NODE) tools/up.ts

## test: typecheck, lint, format check and every test, on real Temporal, Postgres and Kubernetes
test:
	@tools/bootstrap.sh --test
	npm run --silent typecheck
	npm run --silent lint
	npm run --silent format:check
	npm test --silent

check: test

bootstrap:
	@tools/bootstrap.sh --test

typecheck lint:
	@tools/bootstrap.sh
	npm run --silent $@

format:
	@tools/bootstrap.sh
	npm run --silent format

## sub-manager SITE=name: run one sub-manager in the foreground (e.g. bring `local` back)
sub-manager:
	@tools/bootstrap.sh
	DROVER_SITE=$(or $(SITE),local) DROVER_HOME=$${DROVER_HOME:-$(CURDIR)/.drover} $(NODE) sub-manager/main.ts

## netns-demo: (root) two sites in isolated network namespaces, reaching only Temporal, plus `make up`
netns-demo:
	@tools/bootstrap.sh --test
	@$(NODE) sandbox/netns-demo.ts

clean:
	rm -rf node_modules .tools
