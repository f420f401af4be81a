// `async fn` (free, method, generic, with `?`) stays an `async fn` and stays `Send`;
// the poll adapter needs no unsafe code.
#![forbid(unsafe_code)]
use spanprof::track_alloc;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[track_alloc]
async fn parse(x: &str) -> Result<Box<u64>, Box<dyn std::error::Error>> {
    let n: u64 = x.trim().parse()?;
    Ok(Box::new(n))
}

pub struct Service;

impl Service {
    #[track_alloc(name = "Service::call")]
    pub async fn call<T: std::fmt::Debug + Send>(&self, x: T) -> String {
        let s = parse("7").await.map(|b| *b).unwrap_or(0);
        format!("{x:?} {s}")
    }
}

fn is_send<F: Future + Send>(f: F) -> F {
    f
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() {
    assert_eq!(block_on(is_send(Service.call(1u8))), "1 7");
    assert!(block_on(parse("x")).is_err());
    let names: Vec<&str> = spanprof::SITES.iter().map(|s| s.name).collect();
    assert!(names.contains(&"parse") && names.contains(&"Service::call"));
}
