//! The synchronous functions of the interfaces whose newest version also has `async func`s,
//! for the engine without component-model-async. Guests built with spin-sdk 5 import
//! `spin:postgres/postgres@4.0.0` and `spin:sqlite/sqlite@3.0.0`, which hold only these
//! functions; registering them (and not the `async` variants, which that engine cannot
//! call) lets such guests run on the faster WASI 0.2 engine. Each entry forwards to the
//! same host implementation the generated bindings use, so both engines behave alike.

use crate::CapabilitiesView;
use crate::bindings::spin::postgres4_2_0::postgres as pg4;
use crate::bindings::spin::sqlite::sqlite as sqlite3;
use crate::postgres::{PgConnection, PgConnectionBuilder};
use crate::sqlite::ConnectionV3;
use wasmtime::component::{Linker, LinkerInstance, Resource, ResourceType};

/// Registers `$name` on `$inst` as a fiber-async host function that calls
/// `$trait::$method` on the capabilities view with the guest's arguments.
macro_rules! sync_func {
    ($inst:ident, $get:ident, $name:literal, $trait:path, $method:ident ( $($arg:ident : $ty:ty),* )) => {
        $inst.func_wrap_async($name, move |mut store, ($($arg,)*): ($($ty,)*)| {
            Box::new(async move {
                let mut view = $get(store.data_mut());
                Ok((<CapabilitiesView<'_> as $trait>::$method(&mut view, $($arg),*).await?,))
            })
        })?
    };
}

/// Registers resource `$name` of host type `$res` whose destructor is `$trait::drop`.
macro_rules! sync_resource {
    ($inst:ident, $get:ident, $name:literal, $res:ty, $trait:path) => {
        $inst.resource_async(
            $name,
            ResourceType::host::<$res>(),
            move |mut store, rep| {
                Box::new(async move {
                    let mut view = $get(store.data_mut());
                    <CapabilitiesView<'_> as $trait>::drop(&mut view, Resource::new_own(rep)).await
                })
            },
        )?
    };
}

/// Adds the non-`async` functions of `spin:postgres/postgres@4.2.0` to `linker`.
pub(crate) fn add_postgres4<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> CapabilitiesView<'_>,
) -> wasmtime::Result<()> {
    postgres4(&mut linker.instance("spin:postgres/postgres@4.2.0")?, get)
}

/// Adds the non-`async` functions of `spin:sqlite/sqlite@3.1.0` to `linker`.
pub(crate) fn add_sqlite3<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> CapabilitiesView<'_>,
) -> wasmtime::Result<()> {
    sqlite3(&mut linker.instance("spin:sqlite/sqlite@3.1.0")?, get)
}

fn postgres4<T: Send + 'static>(
    inst: &mut LinkerInstance<'_, T>,
    get: fn(&mut T) -> CapabilitiesView<'_>,
) -> wasmtime::Result<()> {
    use pg4::{HostConnection as Conn, HostConnectionBuilder as Builder, ParameterValue};
    sync_resource!(inst, get, "connection", PgConnection, Conn);
    sync_func!(inst, get, "[static]connection.open", Conn, open(address: String));
    sync_func!(inst, get, "[method]connection.query", Conn,
        query(conn: Resource<PgConnection>, statement: String, params: Vec<ParameterValue>));
    sync_func!(inst, get, "[method]connection.execute", Conn,
        execute(conn: Resource<PgConnection>, statement: String, params: Vec<ParameterValue>));
    sync_resource!(
        inst,
        get,
        "connection-builder",
        PgConnectionBuilder,
        Builder
    );
    sync_func!(inst, get, "[constructor]connection-builder", Builder, new(address: String));
    sync_func!(inst, get, "[method]connection-builder.set-ca-root", Builder,
        set_ca_root(builder: Resource<PgConnectionBuilder>, certificate: String));
    sync_func!(inst, get, "[method]connection-builder.build", Builder,
        build(builder: Resource<PgConnectionBuilder>));
    Ok(())
}

fn sqlite3<T: Send + 'static>(
    inst: &mut LinkerInstance<'_, T>,
    get: fn(&mut T) -> CapabilitiesView<'_>,
) -> wasmtime::Result<()> {
    use sqlite3::{HostConnection as Conn, Value};
    sync_resource!(inst, get, "connection", ConnectionV3, Conn);
    sync_func!(inst, get, "[static]connection.open", Conn, open(database: String));
    sync_func!(inst, get, "[method]connection.execute", Conn,
        execute(conn: Resource<ConnectionV3>, statement: String, parameters: Vec<Value>));
    sync_func!(inst, get, "[method]connection.last-insert-rowid", Conn,
        last_insert_rowid(conn: Resource<ConnectionV3>));
    sync_func!(inst, get, "[method]connection.changes", Conn, changes(conn: Resource<ConnectionV3>));
    Ok(())
}
