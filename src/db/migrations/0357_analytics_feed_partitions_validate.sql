-- Day partitions on analytics_feed, step 2 of 3: prove the existing rows lie before the cutover
-- (a scan under SHARE UPDATE EXCLUSIVE: events are written meanwhile).
alter table analytics_feed_default validate constraint analytics_feed_before_cutover;
