//! End-to-end tests: the real `wisp` binary, real guest components, real HTTP.

mod harness;

mod block_networks;
mod cli;
mod command;
mod components;
mod examples;
mod http;
mod lifecycle;
mod limits;
mod manifest_errors;
mod outbound;
mod outbound_http_client;
mod outbound_mqtt;
mod outbound_mysql;
mod outbound_postgres;
mod outbound_postgres_v4;
mod outbound_redis;
mod outbound_tls;
mod registry;
mod registry_server;
mod reuse;
mod routing;
mod sandbox;
mod security;
mod security_db;
mod security_net;
mod security_sqlite;
mod servers;
mod state;
mod state_redis;
mod trigger_cron;
mod trigger_mqtt;
mod trigger_redis;
mod upstream;
mod wasi_p3;
