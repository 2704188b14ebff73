//! Serves a router on an ephemeral loopback port for the length of a test.

use tokio::net::TcpListener;

/// The base URL of `router`, served until the test's runtime ends.
pub async fn serve(router: axum::Router) -> String {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}
