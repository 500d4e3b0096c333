module MiddleManagement
  module Backends
    # Recurring jobs (GoodJob's cron, Solid Queue's recurring tasks) are
    # enqueued by a running worker: at zero workers the next one would never
    # come. Each task's next occurrence is taken as a job scheduled for
    # then, so a worker is up in time (the pool's wake_lead ahead).
    module Recurring
      module_function

      # Seconds from `now` (a Time) to the earliest next occurrence of
      # `schedules` (cron lines or Fugit's natural forms: "every 5 minutes",
      # "0 * * * *"), or nil for none; a schedule naming no zone is read in
      # `zone` (nil: this process's). An entry Fugit cannot read is yielded
      # (to be said once), not raised.
      def next_in(schedules, now:, zone: nil)
        return nil if schedules.empty?

        require "fugit"
        times = schedules.filter_map do |schedule|
          cron = cron(schedule, zone)
          yield schedule if cron.nil? && block_given?
          cron&.next_time(now)&.to_t
        end
        times.map { |time| time - now }.min
      end

      # As both libraries read their schedules (Fugit.parse, a Cron only).
      def cron(schedule, zone)
        cron = ::Fugit.parse(schedule.to_s)
        return nil unless cron.is_a?(::Fugit::Cron)

        zone && cron.zone.nil? ? ::Fugit.parse("#{cron.to_cron_s} #{zone}") : cron
      end
    end
  end
end
