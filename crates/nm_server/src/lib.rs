//! nm_server
