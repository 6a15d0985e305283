// Command drover-temporal runs a Temporal server with authorization on: the server's own
// JWT claim mapper and default authorizer, reading signing keys from a JWKS URI that drover
// publishes. `temporal server start-dev` has neither, and no registry ships a server binary,
// so this small main is built from the Go module proxy (tools/build-temporal-authz.sh).
//
// Everything else is the server's own YAML configuration (persistence, TLS, authorization,
// dynamic config file), which drover writes for `make up` and the tests
// (sandbox/temporal-env.ts) and which a production cluster would carry anyway.
package main

import (
	"flag"
	"fmt"
	"os"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

func main() {
	configFile := flag.String("config", "", "the server's YAML configuration file")
	flag.Parse()
	if len(flag.Args()) > 0 && flag.Arg(0) == "version" {
		fmt.Println(serverVersion())
		return
	}
	if *configFile == "" {
		fmt.Fprintln(os.Stderr, "usage: drover-temporal --config FILE | version")
		os.Exit(2)
	}
	armParentDeathSignal()
	if err := run(*configFile); err != nil {
		fmt.Fprintf(os.Stderr, "drover-temporal: %v\n", err)
		os.Exit(1)
	}
}

func run(configFile string) error {
	cfg, err := config.Load(config.WithConfigFile(configFile))
	if err != nil {
		return fmt.Errorf("loading %s: %w", configFile, err)
	}
	if err := setupSqlite(cfg); err != nil {
		return err
	}
	logger := log.NewZapLogger(log.BuildZapLogger(cfg.Log))
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return err
	}
	if authorizer, err = withNexusCallerRules(authorizer); err != nil {
		return err
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return err
	}
	server, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		// internal-frontend too: the server's own workers (schedules, system workflows) reach it
		// without a JWT, while every outside caller goes through the authorizing frontend.
		temporal.ForServices(temporal.Services),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.InterruptOn(temporal.InterruptCh()),
	)
	if err != nil {
		return err
	}
	return server.Start()
}

// setupSqlite creates the schema of each SQLite file store on first start; namespaces are
// registered afterwards through the API by drover, like on any other cluster.
func setupSqlite(cfg *config.Config) error {
	for name, store := range cfg.Persistence.DataStores {
		sql := store.SQL
		if sql == nil || sql.PluginName != sqliteplugin.PluginName || sql.ConnectAttributes["mode"] == "memory" {
			continue
		}
		if _, err := os.Stat(sql.DatabaseName); err == nil {
			continue
		}
		if err := sqliteschema.SetupSchema(sql); err != nil {
			return fmt.Errorf("creating the schema of store %s: %w", name, err)
		}
	}
	return nil
}
