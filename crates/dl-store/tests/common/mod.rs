//! Scratch databases for this crate's tests: each test gets a fresh, migrated database on the
//! stack's PostgreSQL (`DATABASE_URL`, a role that may create databases).

// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

use sqlx::{Connection as _, PgConnection, PgPool};

/// A fresh database, migrated; [`ScratchDb::drop`] removes it.
pub struct ScratchDb {
    /// A pool on the scratch database.
    pub pool: PgPool,
    name: String,
    admin: String,
}

impl ScratchDb {
    /// A database named `<prefix>_<uuid>`, or `None` (and a SKIPPED line) when
    /// `DATABASE_URL` is not set (`scripts/stack.sh up && . .stack/env`).
    pub async fn create(prefix: &str) -> Option<Self> {
        let Ok(admin) = std::env::var("DATABASE_URL") else {
            eprintln!(
                "SKIPPED {prefix}: DATABASE_URL is not set (run `scripts/stack.sh up && . .stack/env`)"
            );
            return None;
        };
        let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.expect("DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let (base, _) = admin.rsplit_once('/').expect("a database part");
        let pool = dl_store::connect_and_migrate(&format!("{base}/{name}"), 2)
            .await
            .expect("migrating the scratch database");
        Some(Self { pool, name, admin })
    }

    /// Closes the pool and drops the database (with any connection left to it).
    pub async fn drop(self) {
        self.pool.close().await;
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}
