use mapguard::DashMap;

struct Shop {
    stock: DashMap<u32, u32>,
}

impl Shop {
    #[mapguard::guarded]
    fn place_order(&self, sku: u32) -> Option<u32> {
        let left = self.stock.get_cloned(&sku)?;
        if left == 0 {
            return None;
        }
        self.stock.insert(sku, left - 1);
        Some(left - 1)
    }

    #[mapguard::guarded]
    pub async fn restock(&self, sku: u32, n: u32) -> Result<u32, String> {
        let sku = sku.checked_add(0).ok_or("overflow")?;
        self.stock.insert(sku, n);
        Ok(n)
    }

    #[mapguard::guarded]
    async fn count(&self) -> impl std::fmt::Debug {
        self.stock.len()
    }
}

#[mapguard::guarded]
fn generic<T: Default>(_: T) -> T {
    T::default()
}

// An early `return` coerces to the declared type, as in the plain async fn.
trait Shape {
    fn area(&self) -> u32;
}
struct Square;
impl Shape for Square {
    fn area(&self) -> u32 {
        1
    }
}

#[mapguard::guarded]
async fn pick(square: bool) -> Box<dyn Shape> {
    if square {
        return Box::new(Square);
    }
    Box::new(Square)
}

#[mapguard::guarded]
async fn check(x: u32) -> Result<u32, Box<dyn std::error::Error>> {
    if x == 0 {
        return Err("zero".into());
    }
    Ok(x)
}

struct Buf {
    data: Vec<u8>,
    name: String,
}

impl Buf {
    #[mapguard::guarded]
    async fn head(&self, all: bool) -> &[u8] {
        if all {
            return &self.data;
        }
        &self.data[..1]
    }

    #[mapguard::guarded]
    async fn name(&self, some: bool) -> Option<&str> {
        if some {
            return Some(&self.name);
        }
        None
    }
}

// Inner attributes stay inside the body; a raw identifier is a fn name too.
#[mapguard::guarded]
fn r#match(m: &DashMap<u8, u8>) {
    #![allow(unused_variables)]
    let unused = 1;
    m.insert(1, 1);
}

fn main() {
    let shop = Shop { stock: DashMap::named("stock") };
    shop.stock.insert(1, 2);
    assert_eq!(shop.place_order(1), Some(1));
    let _ = shop.restock(1, 5);
    let _ = shop.count();
    assert_eq!(generic(3u8), 0);
    let _ = (pick(true), check(0));
    let b = Buf { data: vec![1], name: "a".into() };
    let _ = (b.head(true), b.name(true));
    r#match(&DashMap::new());
}
