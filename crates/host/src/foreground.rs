//! What runs in the foreground while the event triggers run beside: the HTTP listener,
//! the command triggers, or both; it decides when the app ends and with what status.

use crate::events::RunningEvents;
use crate::{HostError, HostOptions};
use std::sync::Arc;
use wisp_engine::InternalHttp;
use wisp_trigger_command::{CommandTrigger, RunOutcome};
use wisp_trigger_http::HttpApp;

/// Exit status when a signal stopped command triggers before they ended (128 + SIGINT,
/// as a shell reports it).
const INTERRUPTED: i32 = 130;

/// Serves HTTP and runs the commands, whichever the app has, until a signal (or, with
/// commands, until they end); the event triggers are told to stop then. Returns the exit
/// status.
pub(crate) async fn run(
    http: Option<Arc<HttpApp>>,
    commands: Option<CommandTrigger>,
    options: &HostOptions,
    signal: impl Future<Output = ()>,
    running: &RunningEvents,
) -> Result<i32, HostError> {
    match (http, commands) {
        (Some(http), None) => {
            let stop = async {
                signal.await;
                running.stop();
            };
            serve(http, options, stop).await.map(|()| 0)
        }
        (None, Some(commands)) => {
            println!("No HTTP triggers: not listening");
            tokio::select! {
                outcome = commands.run(&options.guest_args, None) => Ok(report(outcome)),
                () = signal => Ok(INTERRUPTED),
            }
        }
        // Both: HTTP is served while the commands run, and stops when they end.
        (Some(http), Some(commands)) => {
            let guest_args = options.guest_args.clone();
            let internal = Some(http.clone() as Arc<dyn InternalHttp>);
            let (ended, commands_ended) = tokio::sync::oneshot::channel();
            let run = tokio::spawn(async move {
                let _ = ended.send(commands.run(&guest_args, internal).await);
            });
            // The commands' outcome, once they end; none if a signal came first.
            let outcome = std::sync::Mutex::new(None);
            let stop = async {
                tokio::select! {
                    () = signal => {}
                    ended = commands_ended => {
                        *outcome.lock().expect("outcome lock") = ended.ok();
                    }
                }
                running.stop();
            };
            serve(http, options, stop).await?;
            let outcome = outcome.lock().expect("outcome lock").take();
            match outcome {
                Some(outcome) => Ok(report(outcome)),
                None => {
                    run.abort();
                    Ok(INTERRUPTED)
                }
            }
        }
        // Event triggers only: they run until a signal.
        (None, None) => {
            println!("No HTTP triggers: not listening");
            signal.await;
            Ok(0)
        }
    }
}

/// Prints why a command failed, if it did; its exit status.
fn report(outcome: RunOutcome) -> i32 {
    if let RunOutcome::Failed(why) = &outcome {
        eprintln!("Error: {why}");
    }
    outcome.status()
}

/// Binds the listener, prints the banner, and serves until `shutdown`, then waits for
/// in-flight requests up to the grace period.
async fn serve(
    app: Arc<HttpApp>,
    options: &HostOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), HostError> {
    let listen_error = |source| HostError::Listen {
        addr: options.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    // One write, so a reader of the pipe sees the whole banner at once.
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut banner = format!("Serving {scheme}://{addr}\nAvailable Routes:\n");
    for (id, route) in app.routes() {
        banner.push_str(&format!("  {id}: {scheme}://{addr}{route}\n"));
    }
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(banner.as_bytes())
            .and_then(|()| out.flush())
            .map_err(HostError::Output)?;
    }
    let grace = options.listener.shutdown_grace;
    let finished = wisp_trigger_http::serve(
        app,
        listener,
        options.tls.clone(),
        shutdown,
        options.listener,
    )
    .await;
    if finished {
        println!("Stopped");
    } else {
        eprintln!(
            "Warning: some requests were still running after {}s; stopped anyway",
            grace.as_secs()
        );
    }
    Ok(())
}
