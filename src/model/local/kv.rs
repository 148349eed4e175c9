//! The key/value cache of one trajectory: per layer, preallocated buffers that grow by doubling
//! (so appending a token never copies the whole cache), a length that can be cut back to any
//! earlier point, and deep copies of a prefix for sharing between trajectories.

use candle_core::{DType, Device, Result, Tensor};

/// Smallest buffer, in positions.
const MIN_CAPACITY: usize = 256;

#[derive(Debug, Clone)]
struct LayerKv {
    /// `(1, kv_heads, capacity, head_dim)`; positions `..len` are valid.
    keys: Tensor,
    values: Tensor,
}

#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<LayerKv>>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    pub fn new(num_layers: usize) -> KvCache {
        KvCache {
            layers: vec![None; num_layers],
            len: 0,
            capacity: 0,
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every position from `len` on; the buffers are kept for reuse.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Bytes held by the buffers.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .map(|l| (l.keys.elem_count() + l.values.elem_count()) * l.keys.dtype().size_in_bytes())
            .sum()
    }

    /// Appends `keys`/`values` (`(1, kv_heads, t, head_dim)`) of `layer` at the current length
    /// and returns views of every position so far. The length moves on with [`KvCache::advance`]
    /// once all layers have appended.
    pub fn append(
        &mut self,
        layer: usize,
        keys: &Tensor,
        values: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let (_, heads, added, head_dim) = keys.dims4()?;
        let needed = self.len + added;
        if needed > self.capacity {
            let capacity = needed.max(self.capacity * 2).max(MIN_CAPACITY);
            self.grow(capacity, heads, head_dim, keys.dtype(), keys.device())?;
        }
        let slot = match self.layers.get_mut(layer) {
            Some(Some(slot)) => slot,
            _ => candle_core::bail!("kv cache has no layer {layer}"),
        };
        slot.keys.slice_set(&keys.contiguous()?, 2, self.len)?;
        slot.values.slice_set(&values.contiguous()?, 2, self.len)?;
        Ok((
            slot.keys.narrow(2, 0, needed)?,
            slot.values.narrow(2, 0, needed)?,
        ))
    }

    /// Moves the length on by `added` positions after every layer appended them.
    pub fn advance(&mut self, added: usize) {
        self.len += added;
    }

    fn grow(
        &mut self,
        capacity: usize,
        heads: usize,
        head_dim: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<()> {
        for slot in self.layers.iter_mut() {
            let keys = Tensor::zeros((1, heads, capacity, head_dim), dtype, device)?;
            let values = Tensor::zeros((1, heads, capacity, head_dim), dtype, device)?;
            if let Some(old) = slot.as_ref() {
                if self.len > 0 {
                    keys.slice_set(&old.keys.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                    values.slice_set(&old.values.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                }
            }
            *slot = Some(LayerKv { keys, values });
        }
        self.capacity = capacity;
        Ok(())
    }

    /// A deep copy of the first `len` positions, sharing no storage with this cache.
    pub fn copy_prefix(&self, len: usize) -> Result<KvCache> {
        let len = len.min(self.len);
        let mut copy = KvCache::new(self.layers.len());
        if len == 0 {
            return Ok(copy);
        }
        let capacity = len.max(MIN_CAPACITY);
        for (slot, source) in copy.layers.iter_mut().zip(&self.layers) {
            let Some(source) = source else { continue };
            let (_, heads, _, head_dim) = source.keys.dims4()?;
            let keys = Tensor::zeros(
                (1, heads, capacity, head_dim),
                source.keys.dtype(),
                source.keys.device(),
            )?;
            let values = Tensor::zeros(
                (1, heads, capacity, head_dim),
                source.keys.dtype(),
                source.keys.device(),
            )?;
            keys.slice_set(&source.keys.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
            values.slice_set(&source.values.narrow(2, 0, len)?.contiguous()?, 2, 0)?;
            *slot = Some(LayerKv { keys, values });
        }
        copy.len = len;
        copy.capacity = capacity;
        Ok(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(start: usize, count: usize) -> Tensor {
        let data: Vec<f32> = (start..start + count)
            .flat_map(|p| [p as f32, -(p as f32)])
            .collect();
        Tensor::from_vec(data, (1, 1, count, 2), &Device::Cpu).unwrap()
    }

    #[test]
    fn grows_truncates_and_copies() {
        let mut cache = KvCache::new(2);
        for (start, count) in [(0usize, 3usize), (3, 300), (303, 1)] {
            for layer in 0..2 {
                let (keys, _) = cache
                    .append(layer, &positions(start, count), &positions(start, count))
                    .unwrap();
                assert_eq!(keys.dims4().unwrap().2, start + count);
            }
            cache.advance(count);
        }
        assert_eq!(cache.len(), 304);
        let (keys, _) = cache
            .append(0, &positions(304, 1), &positions(304, 1))
            .unwrap();
        let all: Vec<f32> = keys.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(all[..4], [0.0, -0.0, 1.0, -1.0]);
        assert_eq!(all[all.len() - 2], 304.0);
        cache.truncate(10);
        assert_eq!(cache.len(), 10);
        let copy = cache.copy_prefix(5).unwrap();
        assert_eq!(copy.len(), 5);
        // Writing into the original does not touch the copy.
        let mut original = cache;
        original.truncate(0);
        original
            .append(0, &positions(100, 1), &positions(100, 1))
            .unwrap();
        let mut copy = copy;
        let (keys, _) = copy.append(0, &positions(5, 1), &positions(5, 1)).unwrap();
        let values: Vec<f32> = keys.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(values[0], 0.0);
        assert_eq!(values[10], 5.0);
    }
}
