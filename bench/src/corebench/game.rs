//! Game-like messages: the JSON snapshot a game server would send every tick, 50 entities with
//! id, position, hit points and state. Entities walk, stop, fight, die and respawn, so each
//! snapshot differs from the last as a real game's does (numbers change, structure repeats).
//! Deterministic: the same seed gives the same snapshots on every run.

use std::fmt::Write as _;

const ENTITIES: usize = 50;
/// The map's size: positions have up to 3 digits.
const MAP: i32 = 1000;

struct Entity {
    x: i32,
    y: i32,
    vx: i32,
    vy: i32,
    hp: i32,
    /// Ticks left dead before respawning.
    dead_for: u32,
    attacking: bool,
}

pub struct World {
    rng: u64,
    tick: u64,
    entities: Vec<Entity>,
}

impl World {
    pub fn new(seed: u64) -> World {
        let mut w = World { rng: seed | 1, tick: 0, entities: Vec::new() };
        for _ in 0..ENTITIES {
            let (x, y) = (w.below(MAP as u64) as i32, w.below(MAP as u64) as i32);
            w.entities.push(Entity { x, y, vx: 0, vy: 0, hp: 100, dead_for: 0, attacking: false });
        }
        w
    }

    /// xorshift64*: a value in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) % n
    }

    /// Advances one tick and returns its snapshot.
    pub fn tick(&mut self) -> Vec<u8> {
        self.tick += 1;
        for i in 0..ENTITIES {
            self.step(i);
        }
        self.snapshot()
    }

    fn step(&mut self, i: usize) {
        let (turn, attack, target, damage) =
            (self.below(12) == 0, self.below(8) == 0, self.below(ENTITIES as u64) as usize, self.below(15) as i32);
        let (vx, vy) = (self.below(7) as i32 - 3, self.below(7) as i32 - 3);
        let (rx, ry) = (self.below(MAP as u64) as i32, self.below(MAP as u64) as i32);
        let e = &mut self.entities[i];
        if e.dead_for > 0 {
            e.dead_for -= 1;
            if e.dead_for == 0 {
                *e = Entity { x: rx, y: ry, vx: 0, vy: 0, hp: 100, dead_for: 0, attacking: false };
            }
            return;
        }
        if turn {
            (e.vx, e.vy) = (vx, vy);
        }
        e.x = (e.x + e.vx).clamp(0, MAP - 1);
        e.y = (e.y + e.vy).clamp(0, MAP - 1);
        e.attacking = attack;
        let t = &mut self.entities[target];
        if attack && target != i && t.dead_for == 0 {
            t.hp -= damage;
            if t.hp <= 0 {
                (t.hp, t.dead_for) = (0, 30);
            }
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut s = format!("{{\"tick\":{},\"entities\":[", self.tick);
        for (id, e) in self.entities.iter().enumerate() {
            let state = match e {
                e if e.dead_for > 0 => "dead",
                e if e.attacking => "attack",
                e if e.vx != 0 || e.vy != 0 => "walk",
                _ => "idle",
            };
            let sep = if id + 1 < ENTITIES { "," } else { "" };
            let _ = write!(s, "{{\"id\":{id},\"x\":{},\"y\":{},\"hp\":{},\"state\":\"{state}\"}}{sep}", e.x, e.y, e.hp);
        }
        s.push_str("]}");
        s.into_bytes()
    }
}

/// `n` consecutive snapshots of one game.
pub fn snapshots(n: usize) -> Vec<Vec<u8>> {
    let mut w = World::new(0x5EED);
    (0..n).map(|_| w.tick()).collect()
}
