//! Rebuilds when a migration is added: `embed_migrations!` reads `migrations/` at compile
//! time, and cargo does not otherwise notice a new directory there (a new migration would be
//! left out of the binary until something else changed).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
