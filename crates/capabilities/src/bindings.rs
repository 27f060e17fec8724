//! Host bindings generated from `wit/host.wit`. Every import is async on the host so a
//! backend (Redis, SQLite on a blocking thread) never stalls the runtime, and trappable so
//! a host bug becomes a trap for that one instance rather than a panic.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "wisp:host/capabilities",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": crate::key_value::SpinStore,
        "spin:key-value/key-value.store": crate::key_value::SpinStore,
        "fermyon:spin/sqlite.connection": crate::sqlite::Connection,
        "spin:sqlite/sqlite.connection": crate::sqlite::ConnectionV3,
        "fermyon:spin/redis.connection": crate::redis_outbound::RedisConnection,
        "spin:redis/redis.connection": crate::redis_outbound::RedisConnection,
        "fermyon:spin/postgres.connection": crate::postgres::PgConnection,
        "spin:postgres/postgres.connection": crate::postgres::PgConnection,
        "spin:postgres/postgres.connection-builder": crate::postgres::PgConnectionBuilder,
        "fermyon:spin/mqtt.connection": crate::mqtt::MqttConnection,
        "spin:mqtt/mqtt.connection": crate::mqtt::MqttConnection,
        "fermyon:spin/mysql.connection": crate::mysql::MysqlConnection,
        "spin:mysql/mysql.connection": crate::mysql::MysqlConnection,
        "wasi:keyvalue/store.bucket": crate::key_value::Bucket,
        "wasi:keyvalue/atomics.cas": crate::key_value::Cas,
    },
});
