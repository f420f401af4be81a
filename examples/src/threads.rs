//! Workers sharing jobs over channels: a producer thread builds jobs, the workers turn
//! each into a result, the main thread collects the results. Every job is freed by a
//! worker and every result by the main thread — objects freed on another thread than
//! the one that allocated them (spanprof's remote frees).

use std::sync::mpsc;
use std::thread;

/// A job: a batch of numbers to hash.
#[derive(Debug)]
pub struct Job {
    pub id: u64,
    pub data: Vec<u64>,
}

/// What a worker returns for a job.
#[derive(Debug)]
pub struct Done {
    pub id: u64,
    pub worker: usize,
    pub digest: u64,
    pub label: String,
}

/// A job of `len` numbers.
#[spanprof::track_alloc]
#[inline(never)]
pub fn make_job(id: u64, len: usize) -> Box<Job> {
    Box::new(Job {
        id,
        data: (0..len as u64).map(|i| i.wrapping_mul(id | 1)).collect(),
    })
}

/// The work: a digest of the job's numbers and a label for it.
#[spanprof::track_alloc]
#[inline(never)]
pub fn process(job: Job, worker: usize) -> Box<Done> {
    let digest = job.data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, x| {
        (h ^ x).wrapping_mul(0x100_0000_01b3)
    });
    Box::new(Done {
        id: job.id,
        worker,
        digest,
        label: format!("job-{}", job.id),
    })
}

/// Runs `jobs` jobs over `workers` worker threads; returns the results' combined digest
/// and how many results each worker produced.
pub fn run(workers: usize, jobs: u64) -> (u64, Vec<u64>) {
    let workers = workers.max(1);
    let (done_tx, done_rx) = mpsc::channel::<Box<Done>>();
    let mut job_txs = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let (tx, rx) = mpsc::sync_channel::<Box<Job>>(64);
        job_txs.push(tx);
        let done_tx = done_tx.clone();
        handles.push(thread::spawn(move || {
            for job in rx {
                if done_tx.send(process(*job, w)).is_err() {
                    break;
                }
            }
        }));
    }
    drop(done_tx);
    let producer = thread::spawn(move || {
        for id in 0..jobs {
            let job = make_job(id, 16 + (id % 48) as usize);
            if job_txs[(id % job_txs.len() as u64) as usize]
                .send(job)
                .is_err()
            {
                break;
            }
        }
    });
    let mut digest = 0u64;
    let mut per_worker = vec![0u64; workers];
    for done in done_rx {
        digest ^= done.digest.rotate_left((done.id % 64) as u32);
        per_worker[done.worker] += 1;
        debug_assert!(done.label.starts_with("job-"));
    }
    let _ = producer.join();
    for h in handles {
        let _ = h.join();
    }
    (digest, per_worker)
}
