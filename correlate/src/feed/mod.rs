//! Endpoint feed readers: every supported format into [`crate::SocketEvent`].
