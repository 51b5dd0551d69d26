//! Names the memory a fault was about in the runtime's terms: the map a
//! value belongs to, the context's struct, the packet within its frame.
//! The interpreter knows only region kinds and offsets; this runs on the
//! error path alone.

use apiary_vm::{FaultLocation, HelperError, RunError};

use crate::{Env, MapId, Runtime};

impl Runtime {
    /// `error` with every fault location it carries (callbacks included)
    /// named: map values get their map's name, the context its struct and
    /// size as the program sees it, the packet buffer becomes the packet.
    pub(crate) fn name_fault(&self, error: RunError, env: &Env) -> RunError {
        match error {
            RunError::MemoryFault {
                pc,
                addr,
                size,
                access,
                location,
                read_only,
            } => RunError::MemoryFault {
                pc,
                addr,
                size,
                access,
                location: self.name_location(location, addr, env),
                read_only,
            },
            RunError::Helper {
                pc,
                id,
                name,
                source,
            } => RunError::Helper {
                pc,
                id,
                name,
                source: self.name_helper_fault(source, env),
            },
            other => other,
        }
    }

    fn name_helper_fault(&self, error: HelperError, env: &Env) -> HelperError {
        match error {
            HelperError::Memory {
                addr,
                len,
                access,
                location,
                read_only,
            } => HelperError::Memory {
                addr,
                len,
                access,
                location: self.name_location(location, addr, env),
                read_only,
            },
            HelperError::Callback(inner) => {
                HelperError::Callback(Box::new(self.name_fault(*inner, env)))
            }
            other => other,
        }
    }

    fn name_location(&self, location: FaultLocation, addr: u64, env: &Env) -> FaultLocation {
        match location {
            FaultLocation::MapValue {
                map,
                name: None,
                offset,
                value_size,
            } => FaultLocation::MapValue {
                map,
                name: self.map(MapId(map)).map(|m| m.def().name.clone()),
                offset,
                value_size,
            },
            FaultLocation::Context {
                type_name: None,
                offset,
                len,
            } => {
                // The region may be larger than the struct (the runtime's
                // internal image of an xdp_md or __sk_buff) or smaller (a
                // syscall program's caller memory): the program sees the
                // smaller.
                let layout = apiary_context::layout(env.prog_type);
                match layout.user_size {
                    0 => FaultLocation::Context {
                        type_name: None,
                        offset,
                        len,
                    },
                    size => FaultLocation::Context {
                        type_name: Some(layout.name),
                        offset,
                        len: len.min(u64::from(size)),
                    },
                }
            }
            FaultLocation::PacketBuffer { offset, len } => match &env.packet {
                Some(packet) => FaultLocation::Packet {
                    offset: addr.wrapping_sub(packet.data_addr()) as i64,
                    len: packet.len() as u64,
                },
                None => FaultLocation::PacketBuffer { offset, len },
            },
            other => other,
        }
    }
}
