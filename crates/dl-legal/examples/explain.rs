//! Prints the parse result (canonical form or error) for each argument.
fn main() {
    for a in std::env::args().skip(1) {
        match dl_legal::LegalRef::parse(&a) {
            Ok(r) => println!("OK   {a}\n  -> {r}"),
            Err(e) => println!("ERR  {a}\n  -> {e}"),
        }
    }
}
