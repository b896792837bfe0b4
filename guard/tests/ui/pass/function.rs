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

fn main() {
    let shop = Shop { stock: DashMap::named("stock") };
    shop.stock.insert(1, 2);
    assert_eq!(shop.place_order(1), Some(1));
    let _ = shop.restock(1, 5);
    let _ = shop.count();
    assert_eq!(generic(3u8), 0);
}
