//! The corpus: function shapes with the findings expected for them, as Go-style text
//! lines (`line:col: message`, the file name left out). Each entry names the construct it
//! exercises. Positions are 1-based, relative to the snippet.

use spanprof_escape::{analyze_file, render_text};

/// The rendered lines for `src`, without the `file:` prefix.
fn lines(src: &str) -> Vec<String> {
    let findings = analyze_file(src, "t.rs").unwrap_or_else(|e| panic!("{e}"));
    render_text(&findings, false)
        .lines()
        .map(|l| l.strip_prefix("t.rs:").unwrap_or(l).to_string())
        .collect()
}

const CASES: &[(&str, &[&str])] = &[
    // 0: seed program: Box::new returned
    (
        r#"fn small_allocation() -> Box<SmallStruct> { Box::new(SmallStruct { a: 1, b: 2, c: 3.0, d: 4.0 }) }"#,
        &["1:45: Box::new(SmallStruct { .. }) escapes to heap: returned"],
    ),
    // 1: deref of a local box
    (
        r#"fn f() -> usize { let b = Box::new(5u64); *b as usize }"#,
        &["1:27: Box::new(5u64) does not escape"],
    ),
    // 2: explicit return
    (
        r#"fn f() -> Box<u8> { let b = Box::new(1u8); return b; }"#,
        &["1:29: Box::new(1u8) escapes to heap: returned"],
    ),
    // 3: move into another binding
    (
        r#"fn f() -> Box<Point> { let b = Box::new(Point { x: 1 }); let c = b; c }"#,
        &["1:32: Box::new(Point { .. }) escapes to heap: returned"],
    ),
    // 4: Some(..)
    (
        r#"fn f() -> Option<Box<Point>> { let b = Box::new(Point { x: 1 }); Some(b) }"#,
        &["1:40: Box::new(Point { .. }) escapes to heap: returned"],
    ),
    // 5: Ok(..)
    (
        r#"fn f() -> Result<Vec<u8>, E> { let v = vec![1u8, 2]; Ok(v) }"#,
        &["1:40: vec![..] escapes to heap: returned"],
    ),
    // 6: Err(format!(..))
    (
        r#"fn f() -> Result<(), String> { Err(format!("bad {}", 1)) }"#,
        &["1:36: format!(..) escapes to heap: returned"],
    ),
    // 7: tuple
    (
        r#"fn f() -> (Box<u8>, usize) { let b = Box::new(1u8); (b, 1) }"#,
        &["1:38: Box::new(1u8) escapes to heap: returned"],
    ),
    // 8: array
    (
        r#"fn f() -> [Box<u8>; 1] { let b = Box::new(1u8); [b] }"#,
        &["1:34: Box::new(1u8) escapes to heap: returned"],
    ),
    // 9: struct literal
    (
        r#"fn f() -> Wrapper { let v = vec![1, 2, 3]; Wrapper { items: v } }"#,
        &["1:29: vec![..] escapes to heap: returned"],
    ),
    // 10: enum variant
    (
        r#"fn f() -> Shape { let b = Box::new(3.0f64); Shape::Circle(b) }"#,
        &["1:27: Box::new(3.0f64) escapes to heap: returned"],
    ),
    // 11: .into()
    (
        r#"fn f() -> Arc<Config> { let c: Arc<Config> = Arc::new(load()); c.into() }"#,
        &["1:46: Arc::new(..) escapes to heap: returned"],
    ),
    // 12: if arms
    (
        r#"fn f(c: bool) -> Box<u8> {
    let b = if c { Box::new(1u8) } else { Box::new(2u8) };
    b
}"#,
        &[
            "2:20: Box::new(1u8) escapes to heap: returned",
            "2:43: Box::new(2u8) escapes to heap: returned",
        ],
    ),
    // 13: match arms
    (
        r#"fn f(n: Option<u8>) -> Vec<u8> {
    match n {
        Some(x) => vec![x],
        None => Vec::with_capacity(4),
    }
}"#,
        &[
            "3:20: vec![..] escapes to heap: returned",
            "4:17: Vec::with_capacity(4) escapes to heap: returned",
        ],
    ),
    // 14: block value
    (
        r#"fn f() -> String {
    let s = { let t = String::from("a"); t };
    s
}"#,
        &["2:23: String::from(\"a\") escapes to heap: returned"],
    ),
    // 15: reassignment in one if arm joins
    (
        r#"fn f(c: bool) -> Box<u8> {
    let mut b = Box::new(1u8);
    if c { b = Box::new(2u8); }
    b
}"#,
        &[
            "2:17: Box::new(1u8) escapes to heap: returned",
            "3:16: Box::new(2u8) escapes to heap: returned",
        ],
    ),
    // 16: reassignment kills the old value
    (
        r#"fn f() -> Box<u8> {
    let mut b = Box::new(1u8);
    b = Box::new(2u8);
    b
}"#,
        &[
            "2:17: Box::new(1u8) does not escape",
            "3:9: Box::new(2u8) escapes to heap: returned",
        ],
    ),
    // 17: early return None
    (
        r#"fn f(items: &[u8]) -> Option<Vec<u8>> {
    let v = items.to_vec();
    if v.is_empty() { return None; }
    Some(v)
}"#,
        &["2:19: items.to_vec() escapes to heap: returned"],
    ),
    // 18: ? on another value
    (
        r#"fn f(x: &str) -> Result<String, E> {
    let s = x.to_string();
    check(&s)?;
    Ok(s)
}"#,
        &["2:15: x.to_string() escapes to heap: returned"],
    ),
    // 19: Err(..)? returns the error
    (
        r#"fn f(c: bool) -> Result<u8, String> {
    if c { Err(String::from("no"))? }
    Ok(1)
}"#,
        &["2:16: String::from(\"no\") escapes to heap: returned"],
    ),
    // 20: Vec::new grown in a loop, boxes inside
    (
        r#"fn f(n: usize) -> Vec<Box<u32>> {
    let mut v = Vec::new();
    for i in 0..n { v.push(Box::new(i as u32)); }
    v
}"#,
        &[
            "2:17: Vec::new() (grown at line 3) escapes to heap: returned",
            "3:28: Box::new(..) escapes to heap: returned",
        ],
    ),
    // 21: vec! in a loop dies
    (
        r#"fn f(n: usize) -> usize {
    let mut total = 0;
    for i in 0..n { let b = vec![0u8; i]; total += b.len(); }
    total
}"#,
        &["3:29: vec![..] does not escape (allocated in a loop)"],
    ),
    // 22: String::new grown by push_str, borrowed
    (
        r#"fn f() -> usize {
    let mut s = String::new();
    s.push_str("hello");
    s.len()
}"#,
        &["2:17: String::new() (grown at line 3) does not escape"],
    ),
    // 23: String grown by write!
    (
        r#"fn f() -> String {
    let mut s = String::new();
    write!(s, "{}", 1).unwrap();
    s
}"#,
        &["2:17: String::new() (grown at line 3) escapes to heap: returned"],
    ),
    // 24: Vec::new never grown: no allocation
    (
        r#"fn f() -> usize { let v: Vec<u8> = Vec::new(); v.len() }"#,
        &[],
    ),
    // 25: grown in loop, break
    (
        r#"fn f() -> Vec<u8> {
    let mut v = Vec::new();
    loop { v.push(1); if v.len() > 3 { break; } }
    v
}"#,
        &["2:17: Vec::new() (grown at line 3) escapes to heap: returned"],
    ),
    // 26: break with a value
    (
        r#"fn f() -> Box<u8> { let b = loop { break Box::new(1u8); }; b }"#,
        &["1:42: Box::new(1u8) escapes to heap: returned"],
    ),
    // 27: collect returned
    (
        r#"fn f(v: &[u32]) -> Vec<u32> { v.iter().map(|x| x * 2).collect() }"#,
        &["1:55: v.iter().map(..).collect() escapes to heap: returned"],
    ),
    // 28: collect with turbofish dies
    (
        r#"fn f(v: &[u32]) -> usize { let w = v.iter().copied().collect::<Vec<u32>>(); w.len() }"#,
        &["1:54: v.iter().copied().collect::<Vec<u32>>() does not escape"],
    ),
    // 29: to_vec then into_boxed_slice
    (
        r#"fn f(v: Vec<u32>) -> Box<[u32]> { let w = v.to_vec(); w.into_boxed_slice() }"#,
        &[
            "1:45: v.to_vec() escapes to heap: returned",
            "1:57: w.into_boxed_slice() escapes to heap: returned",
        ],
    ),
    // 30: to_string returned
    (
        r#"fn f(x: u32) -> String { x.to_string() }"#,
        &["1:28: x.to_string() escapes to heap: returned"],
    ),
    // 31: to_owned dies
    (
        r#"fn f(x: &str) -> usize { let s = x.to_owned(); s.len() }"#,
        &["1:36: x.to_owned() does not escape"],
    ),
    // 32: println! borrows
    (
        r#"fn f() { let v = vec![1, 2, 3]; println!("{:?} {}", v, v.len()); }"#,
        &["1:18: vec![..] does not escape"],
    ),
    // 33: for over &v borrows
    (
        r#"fn f() -> u32 { let v = vec![1u32, 2]; let mut t = 0; for x in &v { t += x; } t }"#,
        &["1:25: vec![..] does not escape"],
    ),
    // 34: iter().sum() borrows
    (
        r#"fn f() -> u32 { let v = vec![1u32, 2]; v.iter().sum() }"#,
        &["1:25: vec![..] does not escape"],
    ),
    // 35: drop ends it
    (
        r#"fn f() { let v = vec![1u8]; drop(v); }"#,
        &["1:18: vec![..] does not escape"],
    ),
    // 36: passed by value to an unknown fn
    (
        r#"fn f() { let b = Box::new(1u8); consume(b); }"#,
        &["1:18: Box::new(1u8) may escape: passed to consume"],
    ),
    // 37: passed by reference
    (
        r#"fn f() { let b = Box::new(1u8); consume(&b); }"#,
        &["1:18: Box::new(1u8) does not escape"],
    ),
    // 38: borrowed as_str
    (
        r#"fn f() { let s = String::from("x"); log(s.as_str()); }"#,
        &["1:18: String::from(\"x\") does not escape"],
    ),
    // 39: push into a &mut Vec parameter
    (
        r#"fn f(out: &mut Vec<String>) { let s = format!("{}", 1); out.push(s); }"#,
        &["1:39: format!(..) escapes to heap: stored in out"],
    ),
    // 40: store through *out
    (
        r#"fn f(out: &mut Option<Box<u8>>) { *out = Some(Box::new(1u8)); }"#,
        &["1:47: Box::new(1u8) escapes to heap: stored in *out"],
    ),
    // 41: store into a parameter's field
    (
        r#"fn f(out: &mut Holder) { out.items = vec![1, 2]; }"#,
        &["1:38: vec![..] escapes to heap: stored in out.items"],
    ),
    // 42: insert into self.map
    (
        r#"impl Cache {
    fn put(&mut self, k: u32) { let v = Box::new(Entry { k }); self.map.insert(k, v); }
}"#,
        &["2:41: Box::new(Entry { .. }) escapes to heap: stored in self.map"],
    ),
    // 43: assign self.last
    (
        r#"impl Cache {
    fn set(&mut self) { self.last = Some(String::from("x")); }
}"#,
        &["2:42: String::from(\"x\") escapes to heap: stored in self.last"],
    ),
    // 44: &self method with a temporary key
    (
        r#"impl Cache {
    fn lookup(&self, k: u32) -> usize { let key = format!("{k}"); self.map.get(&key).map(|v| v.len()).unwrap_or(0) }
}"#,
        &["2:51: format!(..) does not escape"],
    ),
    // 45: builder: mut self returned
    (
        r#"impl Builder {
    fn with(mut self, s: &str) -> Self { self.parts.push(s.to_string()); self }
}"#,
        &["2:60: s.to_string() escapes to heap: returned"],
    ),
    // 46: self by value returned (no sites)
    (
        r#"impl Builder {
    fn into_parts(self) -> Vec<String> { self.parts }
}"#,
        &[],
    ),
    // 47: push through self.inner.lock().unwrap()
    (
        r#"impl Cache {
    fn store(&self, v: u32) { let b = Box::new(v); self.inner.lock().unwrap().push(b); }
}"#,
        &["2:39: Box::new(v) escapes to heap: stored in self.inner"],
    ),
    // 48: static mut
    (
        r#"static mut LAST: Option<Box<u8>> = None;
fn f() { unsafe { LAST = Some(Box::new(1u8)); } }"#,
        &["2:31: Box::new(1u8) escapes to heap: stored in LAST"],
    ),
    // 49: push into a static behind a lock
    (
        r#"fn f() { let b = Box::new(1u8); GLOBAL.lock().unwrap().push(b); }"#,
        &["1:18: Box::new(1u8) escapes to heap: stored in GLOBAL"],
    ),
    // 50: Box::leak to &'static
    (
        r#"fn f() -> &'static Config { let c = Box::new(Config::default()); Box::leak(c) }"#,
        &["1:37: Box::new(..) leaks: Box::leak"],
    ),
    // 51: Vec::leak
    (
        r#"fn f() -> &'static mut [u8] { vec![0u8; 16].leak() }"#,
        &["1:31: vec![..] leaks: .leak()"],
    ),
    // 52: mem::forget
    (
        r#"fn f() { let v = vec![1u8]; std::mem::forget(v); }"#,
        &["1:18: vec![..] leaks: mem::forget"],
    ),
    // 53: Box::into_raw
    (
        r#"fn f() -> *mut Node { Box::into_raw(Box::new(Node::new())) }"#,
        &["1:37: Box::new(..) leaks: into_raw"],
    ),
    // 54: move closure returned
    (
        r#"fn f() -> impl Fn() -> usize { let v = vec![1, 2]; move || v.len() }"#,
        &["1:40: vec![..] escapes to heap: captured by a closure that is returned"],
    ),
    // 55: closure boxed and returned
    (
        r#"fn f() -> Box<dyn Fn() -> usize> { let v = vec![1, 2]; Box::new(move || v.len()) }"#,
        &[
            "1:44: vec![..] escapes to heap: returned",
            "1:56: Box::new(..) escapes to heap: returned",
        ],
    ),
    // 56: non-move closure called locally
    (
        r#"fn f() -> usize { let v = vec![1, 2]; let c = || v.len(); c() }"#,
        &["1:27: vec![..] does not escape"],
    ),
    // 57: move closure called locally
    (
        r#"fn f() -> usize { let v = vec![1, 2]; let c = move || v.len(); c() }"#,
        &["1:27: vec![..] does not escape"],
    ),
    // 58: thread::spawn move closure
    (
        r#"fn f() { let v = vec![1, 2]; std::thread::spawn(move || println!("{}", v.len())); }"#,
        &["1:18: vec![..] escapes to heap: captured by a spawned thread"],
    ),
    // 59: scoped thread spawn with move
    (
        r#"fn f() {
    let v = vec![1, 2];
    thread::scope(|s| { s.spawn(move || v.len()); });
}"#,
        &["2:13: vec![..] escapes to heap: captured by a spawned thread"],
    ),
    // 60: scoped thread spawn borrowing
    (
        r#"fn f() { let v = vec![1u8]; let n = 2; std::thread::scope(|s| { s.spawn(|| v.len() + n); }); }"#,
        &["1:18: vec![..] does not escape"],
    ),
    // 61: tokio::spawn async move
    (
        r#"async fn f() { let s = String::from("x"); tokio::spawn(async move { use_it(&s).await; }); }"#,
        &["1:24: String::from(\"x\") escapes to heap: captured by a spawned task"],
    ),
    // 62: rayon::spawn
    (
        r#"fn f() { let b = Box::new(1u8); rayon::spawn(move || drop(b)); }"#,
        &["1:18: Box::new(1u8) escapes to heap: captured by a spawned task"],
    ),
    // 63: channel send
    (
        r#"fn f(tx: Sender<Box<u8>>) { let b = Box::new(1u8); tx.send(b).unwrap(); }"#,
        &["1:37: Box::new(1u8) escapes to heap: sent on channel tx"],
    ),
    // 64: async fn returns
    (
        r#"async fn f() -> Vec<u8> { let v = vec![1u8]; tick().await; v }"#,
        &["1:35: vec![..] escapes to heap: returned"],
    ),
    // 65: async fn borrows across await
    (
        r#"async fn f() -> usize { let v = vec![1u8]; let n = fetch(&v).await; n }"#,
        &["1:33: vec![..] does not escape"],
    ),
    // 66: generic T moved to heap
    (
        r#"fn f<T: Clone>(x: T) -> Box<T> { Box::new(x) }"#,
        &[
            "1:16: moved to heap: x",
            "1:34: Box::new(x) escapes to heap: returned",
        ],
    ),
    // 67: generic Vec<T> with capacity returned
    (
        r#"fn f<T>(items: Vec<T>) -> Vec<T> { let mut out = Vec::with_capacity(items.len()); for i in items { out.push(i); } out }"#,
        &["1:50: Vec::with_capacity(..) escapes to heap: returned"],
    ),
    // 68: stack struct moved into a returned box
    (
        r#"fn f() -> Box<Point> { let p = Point { x: 1, y: 2 }; Box::new(p) }"#,
        &[
            "1:28: moved to heap: p",
            "1:54: Box::new(p) escapes to heap: returned",
        ],
    ),
    // 69: stack struct in a box that dies
    (
        r#"fn f() -> usize { let p = Point { x: 1, y: 2 }; let b = Box::new(p); b.x }"#,
        &["1:57: Box::new(p) does not escape"],
    ),
    // 70: stack struct pushed into a returned Vec
    (
        r#"fn f() -> Vec<Point> { let p = Point { x: 1, y: 2 }; let mut v = Vec::new(); v.push(p); v }"#,
        &[
            "1:28: moved to heap: p",
            "1:66: Vec::new() (grown at line 1) escapes to heap: returned",
        ],
    ),
    // 71: nested fn
    (
        r#"fn outer() -> usize {
    fn inner() -> Box<u8> { Box::new(1u8) }
    let v = vec![1];
    v.len()
}"#,
        &[
            "2:29: Box::new(1u8) escapes to heap: returned",
            "3:13: vec![..] does not escape",
        ],
    ),
    // 72: inline module
    (
        r#"mod m {
    pub fn f() -> String { String::from("x") }
}"#,
        &["2:28: String::from(\"x\") escapes to heap: returned"],
    ),
    // 73: closure result dropped
    (
        r#"fn f() -> usize { let g = |x: u8| { let b = Box::new(x); b }; let r = g(1); r.len() }"#,
        &["1:45: Box::new(x) does not escape"],
    ),
    // 74: closure result returned
    (
        r#"fn f() -> Box<u8> { let g = || Box::new(1u8); g() }"#,
        &["1:32: Box::new(1u8) escapes to heap: returned"],
    ),
    // 75: unknown macro skipped
    (
        r#"fn f() -> Vec<u8> { let v = my_macro!(1, 2); let w = vec![3u8]; w }"#,
        &["1:54: vec![..] escapes to heap: returned"],
    ),
    // 76: unknown macro naming a local
    (
        r#"fn f() { let v = vec![1u8]; my_log!(v); }"#,
        &["1:18: vec![..] may escape: passed to my_log!"],
    ),
    // 77: dbg! passes through
    (
        r#"fn f() -> usize { let v = vec![1u8]; dbg!(v).len() }"#,
        &["1:27: vec![..] does not escape"],
    ),
    // 78: assert_eq! borrows
    (
        r#"fn f() { let s = format!("{}", 1); assert_eq!(s, "1"); }"#,
        &["1:18: format!(..) does not escape"],
    ),
    // 79: String + &str
    (
        r#"fn f(a: &str, b: &str) -> String { let s = String::from(a) + b; s }"#,
        &["1:44: String::from(a) escapes to heap: returned"],
    ),
    // 80: elided lifetime, one reference param
    (
        r#"fn first(v: &Vec<String>) -> &String { &v[0] }"#,
        &["1:10: leaking param: v to result ~r0 level=0"],
    ),
    // 81: &self method returning a reference
    (
        r#"impl Stack {
    fn top(&self) -> &u32 { &self.items[0] }
}"#,
        &["2:13: leaking param: self to result ~r0 level=0"],
    ),
    // 82: named lifetime shared by two params
    (
        r#"fn longest<'a>(a: &'a str, b: &'a str) -> &'a str { if a.len() > b.len() { a } else { b } }"#,
        &[
            "1:16: leaking param: a to result ~r0 level=0",
            "1:28: leaking param: b to result ~r0 level=0",
        ],
    ),
    // 83: named lifetime on one param
    (
        r#"fn pick<'a, 'b>(a: &'a str, _b: &'b str) -> &'a str { a }"#,
        &["1:17: leaking param: a to result ~r0 level=0"],
    ),
    // 84: 'static result
    (r#"fn name() -> &'static str { "x" }"#, &[]),
    // 85: impl with '_ and named lifetime
    (
        r#"impl Parser<'_> {
    fn rest<'a>(&self, s: &'a str) -> &'a str { s }
}"#,
        &["2:24: leaking param: s to result ~r0 level=0"],
    ),
    // 86: Rc::clone shares the allocation
    (
        r#"fn f() -> Rc<u8> { let a = Rc::new(1u8); let b = Rc::clone(&a); b }"#,
        &["1:28: Rc::new(1u8) escapes to heap: returned"],
    ),
    // 87: Arc clone passed away
    (
        r#"fn f() -> usize { let a = Arc::new(vec![1]); let b = a.clone(); worker(b); 1 }"#,
        &[
            "1:27: Arc::new(..) may escape: passed to worker",
            "1:36: vec![..] may escape: passed to worker",
        ],
    ),
    // 88: pop from a local vec
    (
        r#"fn f() -> Box<u8> { let mut v = vec![Box::new(1u8)]; v.pop().unwrap() }"#,
        &[
            "1:33: vec![..] does not escape",
            "1:38: Box::new(1u8) escapes to heap: returned",
        ],
    ),
    // 89: mem::take
    (
        r#"fn f() -> Vec<u8> { let mut v = vec![1u8]; std::mem::take(&mut v) }"#,
        &["1:33: vec![..] escapes to heap: returned"],
    ),
    // 90: HashMap::with_capacity and its values
    (
        r#"fn f() -> HashMap<u32, String> { let mut m = HashMap::with_capacity(8); m.insert(1, String::from("a")); m }"#,
        &[
            "1:46: HashMap::with_capacity(8) escapes to heap: returned",
            "1:85: String::from(\"a\") escapes to heap: returned",
        ],
    ),
    // 91: HashMap::new grown, dies
    (
        r#"fn f() -> usize { let mut m = HashMap::new(); m.insert(1u32, 2u32); m.len() }"#,
        &["1:31: HashMap::new() (grown at line 1) does not escape"],
    ),
    // 92: Vec::from
    (
        r#"fn f(x: &[u8]) -> Vec<u8> { let v = Vec::from(x); v }"#,
        &["1:37: Vec::from(x) escapes to heap: returned"],
    ),
    // 93: Box::pin of an async block
    (
        r#"fn f() -> Pin<Box<dyn Future<Output = ()>>> { Box::pin(async {}) }"#,
        &["1:47: Box::pin(..) escapes to heap: returned"],
    ),
    // 94: let-else
    (
        r#"fn f() -> Box<u8> { let b = Box::new(1u8); let Some(x) = Some(b) else { panic!() }; x }"#,
        &["1:29: Box::new(1u8) escapes to heap: returned"],
    ),
    // 95: if let with early return
    (
        r#"fn f(o: Option<u8>) -> Box<u8> { if let Some(x) = o { let b = Box::new(x); return b; } Box::new(0u8) }"#,
        &[
            "1:63: Box::new(x) escapes to heap: returned",
            "1:88: Box::new(0u8) escapes to heap: returned",
        ],
    ),
    // 96: tuple destructuring
    (
        r#"fn f() -> usize { let (a, b) = (vec![1], vec![2]); a.len() + b.len() }"#,
        &[
            "1:33: vec![..] does not escape",
            "1:42: vec![..] does not escape",
        ],
    ),
    // 97: tuple destructuring, one returned
    (
        r#"fn f() -> Vec<u8> { let (a, _b) = (vec![1u8], 2); a }"#,
        &["1:36: vec![..] escapes to heap: returned"],
    ),
    // 98: unknown method on a box
    (
        r#"fn f() -> usize { let b = Box::new(Big::new()); b.process() }"#,
        &["1:27: Box::new(..) may escape: passed to b.process"],
    ),
    // 99: Rc::from of a vec
    (
        r#"fn f() -> usize { let b = Box::new(1u8); let c: Rc<[u8]> = Rc::from(vec![1u8]); b.len() + c.len() }"#,
        &[
            "1:27: Box::new(1u8) does not escape",
            "1:60: Rc::from(..) does not escape",
            "1:69: vec![..] does not escape",
        ],
    ),
    // 100: to_string inside map closure, collected, joined
    (
        r#"fn f() -> String { let parts: Vec<String> = (0..3).map(|i| i.to_string()).collect(); parts.join(",") }"#,
        &[
            "1:62: i.to_string() does not escape",
            "1:75: (..).map(..).collect() does not escape",
        ],
    ),
    // 101: reassignment inside a loop
    (
        r#"fn f(xs: &[u32]) -> u32 { let mut best = Box::new(0); for x in xs { if *x > *best { best = Box::new(*x); } } *best }"#,
        &[
            "1:42: Box::new(0) does not escape",
            "1:92: Box::new(..) does not escape (allocated in a loop)",
        ],
    ),
    // 102: VecDeque::with_capacity
    (
        r#"fn f() -> VecDeque<u8> { let mut q = VecDeque::with_capacity(4); q.push_back(1); q }"#,
        &["1:38: VecDeque::with_capacity(4) escapes to heap: returned"],
    ),
    // 103: moved to another binding then passed by value
    (
        r#"fn f() { let s = String::with_capacity(10); let t = s; takes(t); }"#,
        &["1:18: String::with_capacity(10) may escape: passed to takes"],
    ),
    // 104: while let grows a Vec
    (
        r#"fn f(rx: &Receiver<u8>) -> Vec<u8> { let mut v = Vec::new(); while let Ok(x) = rx.recv() { v.push(x); } v }"#,
        &["1:50: Vec::new() (grown at line 1) escapes to heap: returned"],
    ),
    // 105: default trait method
    (
        r#"trait Make { fn make(&self) -> Box<u8> { Box::new(1u8) } }"#,
        &["1:42: Box::new(1u8) escapes to heap: returned"],
    ),
    // 106: turbofish Box::<T>::new
    (
        r#"impl<T: Default> Pool<T> {
    fn fresh(&mut self) -> Box<T> { let b = Box::<T>::new(T::default()); b }
}"#,
        &["2:45: Box::<T>::new(..) escapes to heap: returned"],
    ),
    // 107: closure returned that allocates
    (
        r#"fn f() -> impl Fn() -> Box<u8> { move || Box::new(1u8) }"#,
        &["1:42: Box::new(1u8) escapes to heap: returned"],
    ),
    // 108: nested closures borrowing
    (
        r#"fn f() -> usize { let v = vec![1]; let outer = || { let inner = || v.len(); inner() }; outer() }"#,
        &["1:27: vec![..] does not escape"],
    ),
    // 109: push into &mut parameter in a loop
    (
        r#"fn f(items: &mut Vec<Box<u8>>) { for i in 0..3 { items.push(Box::new(i)); } }"#,
        &["1:61: Box::new(i) escapes to heap: stored in items"],
    ),
    // 110: ? then to_vec
    (
        r#"fn f() -> Result<Vec<u8>, Error> { let v = read()?; let w = v.to_vec(); Ok(w) }"#,
        &["1:63: v.to_vec() escapes to heap: returned"],
    ),
    // 111: match arm with return
    (
        r#"fn f(n: u8) -> Box<u8> { match n { 0 => return Box::new(0u8), _ => {} } let b = Box::new(n); b }"#,
        &[
            "1:48: Box::new(0u8) escapes to heap: returned",
            "1:81: Box::new(n) escapes to heap: returned",
        ],
    ),
    // 112: .into() String, Box of len dies
    (
        r#"fn f() { let s: String = "abc".into(); let b = Box::new(s.len()); println!("{b}"); }"#,
        &["1:48: Box::new(..) does not escape"],
    ),
    // 113: array iter map to_string collect returned
    (
        r#"fn f() -> Vec<String> { ["a", "b"].iter().map(|s| s.to_string()).collect() }"#,
        &[
            "1:53: s.to_string() escapes to heap: returned",
            "1:66: [..].iter().map(..).collect() escapes to heap: returned",
        ],
    ),
];

#[test]
fn corpus() {
    let mut failed = Vec::new();
    for (i, (src, expected)) in CASES.iter().enumerate() {
        let got = lines(src);
        if got != *expected {
            failed.push(format!(
                "case {i}:\n{src}\n  got: {got:#?}\n want: {expected:#?}"
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn corpus_is_large_enough() {
    assert!(CASES.len() >= 80, "{}", CASES.len());
}
