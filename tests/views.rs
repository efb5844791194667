//! Views: named views, generations, switch, rollback, env.

use crate::util::World;
