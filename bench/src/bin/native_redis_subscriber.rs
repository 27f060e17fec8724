//! The Redis-trigger benchmark's native baseline: subscribes to a channel and, for every
//! message, increments a counter on the same server from its own task (the work the
//! wisp guest does per message). Usage: `native-redis-subscriber ADDRESS CHANNEL COUNTER`.

use futures::StreamExt;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(address), Some(channel), Some(counter)) = (args.next(), args.next(), args.next())
    else {
        anyhow::bail!("usage: native-redis-subscriber ADDRESS CHANNEL COUNTER");
    };
    let client = redis::Client::open(address)?;
    let connection = client.get_multiplexed_async_connection().await?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&channel).await?;
    println!("subscribed to {channel}");
    let mut messages = pubsub.on_message();
    while let Some(_message) = messages.next().await {
        let mut connection = connection.clone();
        let counter = counter.clone();
        tokio::spawn(async move {
            let incremented: redis::RedisResult<i64> =
                redis::AsyncCommands::incr(&mut connection, &counter, 1).await;
            if let Err(e) = incremented {
                eprintln!("incr: {e}");
            }
        });
    }
    Ok(())
}
