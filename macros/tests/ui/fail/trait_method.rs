// A method without a body cannot be a site.
trait Codec {
    #[spanprof::track_alloc]
    fn encode(&self) -> Vec<u8>;
}

fn main() {}
