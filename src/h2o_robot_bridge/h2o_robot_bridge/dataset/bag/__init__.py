"""rosbag2 (sqlite3 or MCAP) without ROS: read, decode, salvage, convert, write."""
