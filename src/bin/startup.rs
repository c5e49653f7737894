//! `startup`: run the whole system on this host. See `startup --help`;
//! the program is `mass_connect::launcher::program`.

fn main() {
    mass_connect::launcher::program::main();
}
