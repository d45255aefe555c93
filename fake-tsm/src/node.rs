//! Inode numbers: the reports directory is the FUSE root; every report directory gets an id that
//! is never reused, so a stale inode of a removed directory can never reach a newer one.

use fuser::INodeNo;

use crate::entry::Attribute;

/// Low bits of an inode number: 0 for the report directory, [`Attribute::index`] for its files.
const ATTRIBUTE_BITS: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Reports,
    Entry(u64),
    Attribute(u64, Attribute),
}

impl Node {
    pub fn from_inode(ino: INodeNo) -> Option<Node> {
        if ino == INodeNo::ROOT {
            return Some(Node::Reports);
        }
        let entry = ino.0 >> ATTRIBUTE_BITS;
        if entry == 0 {
            return None;
        }
        match ino.0 & ((1 << ATTRIBUTE_BITS) - 1) {
            0 => Some(Node::Entry(entry)),
            index => Attribute::from_index(index).map(|a| Node::Attribute(entry, a)),
        }
    }

    pub fn inode(self) -> INodeNo {
        match self {
            Node::Reports => INodeNo::ROOT,
            Node::Entry(entry) => INodeNo(entry << ATTRIBUTE_BITS),
            Node::Attribute(entry, attribute) => {
                INodeNo((entry << ATTRIBUTE_BITS) | attribute.index())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_survives_the_round_trip_through_its_inode_number() {
        let mut nodes = vec![Node::Reports, Node::Entry(1), Node::Entry(u64::MAX >> 3)];
        for attribute in Attribute::ALL {
            nodes.push(Node::Attribute(7, attribute));
        }
        for node in nodes {
            assert_eq!(Node::from_inode(node.inode()), Some(node), "{node:?}");
        }
        assert_eq!(Node::from_inode(INodeNo(0)), None);
        assert_eq!(Node::from_inode(INodeNo((1 << 3) | 7)), None);
    }
}
