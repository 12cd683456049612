//! Struct and union layouts with holes and padding, computed like pahole, and pahole's
//! output format.
//!
//! A hole is the space between the end of one member and the start of the next; for
//! bitfields it is counted in bits. Padding is the space between the end of the last member
//! and the size of the struct. For unions there are no holes; padding is the space after the
//! largest member.

use super::{Kind, TypeDb, TypeError, TypeId};

/// pahole's cache line size (x86-64).
const CACHELINE: u64 = 64;

/// One member's place in a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLayout {
    /// Member name (`None`: anonymous struct/union or unnamed bitfield).
    pub name: Option<String>,
    /// The member's type, in C (`struct net_device *`).
    pub type_name: String,
    /// The whole declaration, in C (`char cb[48]`, `int (*fn)(void *)`).
    pub decl: String,
    /// The member's type.
    pub ty: TypeId,
    /// Byte offset (for a bitfield: of the storage unit that holds it).
    pub offset: u64,
    /// Size in bytes (for a bitfield: of its storage unit, the declared type).
    pub size: u64,
    /// For a bitfield: the bit offset inside its storage unit.
    pub bit_offset: Option<u64>,
    /// For a bitfield: its width in bits.
    pub bit_size: Option<u64>,
    /// Whole bytes free between this member's end and the next member (or the end).
    pub hole_after: u64,
    /// Bits free after this bitfield, before the next byte-aligned member.
    pub bit_hole_after: u64,
    /// For a member of anonymous struct/union type: its layout, offsets from the outer start.
    pub nested: Option<Box<Layout>>,
}

/// The layout of a struct or union.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `struct sk_buff`, `union {...}`.
    pub name: String,
    /// Whether it is a union.
    pub is_union: bool,
    /// `sizeof`.
    pub size: u64,
    /// Members in declaration order.
    pub members: Vec<MemberLayout>,
    /// Bytes after the last member (for a struct) or the largest (for a union).
    pub padding: u64,
}

impl Layout {
    /// Sum of member sizes (bitfields counted by their bits, rounded down to bytes as pahole).
    pub fn sum_members(&self) -> u64 {
        let bytes: u64 = self
            .members
            .iter()
            .filter(|m| m.bit_size.is_none())
            .map(|m| m.size)
            .sum();
        bytes + self.bitfield_bits() / 8
    }

    /// Total bits of all bitfields.
    pub fn bitfield_bits(&self) -> u64 {
        self.members.iter().filter_map(|m| m.bit_size).sum()
    }

    /// Number of byte holes.
    pub fn holes(&self) -> usize {
        self.members.iter().filter(|m| m.hole_after > 0).count()
    }

    /// Total bytes in holes.
    pub fn sum_holes(&self) -> u64 {
        self.members.iter().map(|m| m.hole_after).sum()
    }

    /// Number of bit holes.
    pub fn bit_holes(&self) -> usize {
        self.members.iter().filter(|m| m.bit_hole_after > 0).count()
    }

    /// Total bits in bit holes.
    pub fn sum_bit_holes(&self) -> u64 {
        self.members.iter().map(|m| m.bit_hole_after).sum()
    }

    /// A member by name.
    pub fn member(&self, name: &str) -> Option<&MemberLayout> {
        self.members
            .iter()
            .find(|m| m.name.as_deref() == Some(name))
    }
}

pub(crate) fn layout(db: &TypeDb<'_>, id: TypeId) -> Result<Layout, TypeError> {
    layout_at(db, id, 0, 0)
}

/// The layout of `id` placed at byte `base` of an outer struct, `depth` levels deep.
fn layout_at(db: &TypeDb<'_>, id: TypeId, base: u64, depth: usize) -> Result<Layout, TypeError> {
    if depth > super::MAX_DEPTH {
        return Err(TypeError::TooDeep(id.0));
    }
    let stripped = db
        .strip(Some(id))?
        .ok_or_else(|| TypeError::NoSize("void".into()))?;
    let ty = db.get(stripped)?;
    let name = db.name_of(Some(stripped))?;
    let (members, is_union) = match ty.kind {
        Kind::Struct(m) => (m, false),
        Kind::Union(m) => (m, true),
        _ => {
            return Err(TypeError::BadPath(format!(
                "{name} is not a struct or union"
            )))
        }
    };
    if ty.declaration {
        return Err(TypeError::NoSize(name));
    }
    let size = ty.size.unwrap_or(0);
    let mut out = Vec::with_capacity(members.len());
    for m in &members {
        let member_size = db.size_of(m.ty).unwrap_or(0);
        let (offset, bit_offset) = match m.bit_size {
            Some(_) if member_size > 0 => {
                let unit_bits = member_size * 8;
                let unit_start = m.bit_offset / unit_bits * unit_bits;
                (unit_start / 8, Some(m.bit_offset - unit_start))
            }
            _ => (m.bit_offset / 8, m.bit_size.map(|_| m.bit_offset % 8)),
        };
        let nested = match db.strip(Some(m.ty))? {
            Some(inner) => {
                let t = db.get(inner)?;
                if t.name.is_none() && matches!(t.kind, Kind::Struct(_) | Kind::Union(_)) {
                    Some(Box::new(layout_at(db, inner, base + offset, depth + 1)?))
                } else {
                    None
                }
            }
            None => None,
        };
        out.push(MemberLayout {
            nested,
            name: m.name.clone(),
            type_name: db.name_of(Some(m.ty))?,
            decl: db.declaration(Some(m.ty), m.name.as_deref().unwrap_or(""))?,
            ty: m.ty,
            offset: base + offset,
            size: member_size,
            bit_offset,
            bit_size: m.bit_size,
            hole_after: 0,
            bit_hole_after: 0,
        });
    }
    // Holes: from each member's end (in bits) to the next member's start.
    let end_bits: Vec<u64> = members
        .iter()
        .zip(&out)
        .map(|(m, l)| m.bit_offset + m.bit_size.unwrap_or(l.size * 8))
        .collect();
    let mut padding = 0;
    if is_union {
        let largest = out.iter().map(|m| m.size).max().unwrap_or(0);
        padding = size.saturating_sub(largest);
    } else {
        let mut furthest = 0u64;
        for i in 0..out.len() {
            furthest = furthest.max(end_bits[i]);
            let next_start = members.get(i + 1).map(|n| n.bit_offset);
            let gap_end = next_start.unwrap_or(size * 8);
            if gap_end <= furthest {
                continue;
            }
            let gap = gap_end - furthest;
            // After a bitfield, the rest of its storage unit is a bit hole (as pahole counts);
            // otherwise the bits up to the next byte boundary. Whole bytes beyond are a hole.
            let bit_limit = if members[i].bit_size.is_some() {
                ((out[i].offset - base + out[i].size) * 8).max(furthest)
            } else {
                furthest.div_ceil(8) * 8
            };
            let bits = (bit_limit.min(gap_end) - furthest).min(gap);
            let bytes = (gap - bits) / 8;
            out[i].bit_hole_after = bits + (gap - bits) % 8;
            match next_start {
                Some(_) => out[i].hole_after = bytes,
                None => padding = bytes,
            }
        }
        if out.is_empty() {
            padding = size;
        }
    }
    Ok(Layout {
        name,
        is_union,
        size,
        members: out,
        padding,
    })
}

/// Prints a layout like pahole: one member a line with `/* offset size */`, holes and
/// padding as `XXX` comments, cache line boundaries, and the summary. Members of anonymous
/// struct/union type are expanded in place, with offsets from the outer start.
pub fn format_pahole(layout: &Layout) -> String {
    let mut out = format!("{} {{\n", layout.name);
    let mut cacheline = 0;
    write_members(layout, 1, &mut cacheline, &mut out);
    out.push('\n');
    out.push_str(&format!(
        "\t/* size: {}, cachelines: {}, members: {} */\n",
        layout.size,
        layout.size.div_ceil(CACHELINE),
        layout.members.len()
    ));
    if layout.holes() > 0 {
        out.push_str(&format!(
            "\t/* sum members: {}, holes: {}, sum holes: {} */\n",
            layout.sum_members(),
            layout.holes(),
            layout.sum_holes()
        ));
    }
    if layout.bitfield_bits() > 0 {
        out.push_str(&format!(
            "\t/* sum bitfield members: {} bits ({} bytes) */\n",
            layout.bitfield_bits(),
            layout.bitfield_bits() / 8
        ));
    }
    if layout.bit_holes() > 0 {
        out.push_str(&format!(
            "\t/* bit holes: {}, sum bit holes: {} bits */\n",
            layout.bit_holes(),
            layout.sum_bit_holes()
        ));
    }
    if layout.padding > 0 {
        out.push_str(&format!("\t/* padding: {} */\n", layout.padding));
    }
    let last = layout.size % CACHELINE;
    if last != 0 && layout.size > CACHELINE {
        out.push_str(&format!("\t/* last cacheline: {last} bytes */\n"));
    }
    out.push_str("};\n");
    out
}

fn write_members(layout: &Layout, indent: usize, cacheline: &mut u64, out: &mut String) {
    const COMMENT_COLUMN: usize = 48;
    let tabs = "\t".repeat(indent);
    let line = |out: &mut String, text: &str, position: &str| {
        let width = COMMENT_COLUMN
            .saturating_sub(indent * 8)
            .max(text.len() + 1);
        out.push_str(&format!("{tabs}{text:<width$}{position}\n"));
    };
    for m in &layout.members {
        if m.offset / CACHELINE > *cacheline && m.bit_offset.unwrap_or(0) == 0 {
            *cacheline = m.offset / CACHELINE;
            out.push_str(&format!(
                "{tabs}/* --- cacheline {} boundary ({} bytes) --- */\n",
                *cacheline,
                *cacheline * CACHELINE
            ));
        }
        let position = match (m.bit_offset, m.bit_size) {
            (Some(bit), Some(_)) => format!("/* {:5}:{:2} {:5} */", m.offset, bit, m.size),
            _ => format!("/* {:5} {:5} */", m.offset, m.size),
        };
        if let Some(nested) = &m.nested {
            let keyword = if nested.is_union { "union" } else { "struct" };
            out.push_str(&format!("{tabs}{keyword} {{\n"));
            write_members(nested, indent + 1, cacheline, out);
            let close = match &m.name {
                Some(name) => format!("}} {name};"),
                None => "};".to_string(),
            };
            line(out, &close, &position);
        } else {
            let decl = match m.bit_size {
                Some(bits) => format!("{}:{bits};", m.decl),
                None => format!("{};", m.decl),
            };
            line(out, &decl, &position);
        }
        if m.bit_hole_after > 0 {
            out.push_str(&format!(
                "\n{tabs}/* XXX {} bit{} hole, try to pack */\n",
                m.bit_hole_after,
                if m.bit_hole_after == 1 { "" } else { "s" }
            ));
        }
        if m.hole_after > 0 {
            out.push_str(&format!(
                "\n{tabs}/* XXX {} byte{} hole, try to pack */\n\n",
                m.hole_after,
                if m.hole_after == 1 { "" } else { "s" }
            ));
        }
    }
}
