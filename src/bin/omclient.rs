//! `omclient`: operations & maintenance. See `omclient --help`; the program
//! is `mass_connect::ops::omclient::program`.

fn main() {
    mass_connect::ops::omclient::program::main();
}
