require "csv"
require "time"

module MiddleManagement
  module Simulation
    # A job trace: CSV with a header, one job a row. `enqueued_at` and the
    # optional `run_at` (a scheduled job's due time) are seconds or ISO 8601
    # times; `duration` is seconds; `queue` is kept for pools that filter
    # queues. Times are made relative to the first enqueue.
    class Trace
      Error = Class.new(StandardError)
      Job = Struct.new(:enqueued_at, :due_at, :duration, :queue)

      attr_reader :jobs

      def self.read(path) = new(File.read(path), source: path)

      # A trace of Jobs already made (`middle_management tune` rebuilds one
      # from the history), times relative to the first.
      def self.of(jobs) = allocate.tap { |trace| trace.__send__(:start_at_zero, jobs) }

      def initialize(text, source: "the trace")
        rows = CSV.parse(text, headers: true)
        missing = %w[enqueued_at duration] - rows.headers.compact
        raise Error, "#{source} has no #{missing.join(" or ")} column (its header: #{rows.headers.join(",")})" if missing.any?

        start_at_zero(rows.each_with_index.map { |row, index| job(row, index + 2, source) })
      end

      # enqueued_at, due_at, duration for each job, as the native simulator takes them.
      def flat = @jobs.flat_map { |job| [job.enqueued_at, job.due_at, job.duration] }

      # The CSV that Trace.read reads back (seconds, to the millisecond).
      def to_csv
        CSV.generate do |csv|
          csv << %w[enqueued_at run_at duration queue]
          @jobs.each { |job| csv << [job.enqueued_at.round(3), job.due_at.round(3), job.duration.round(3), job.queue] }
        end
      end

      private

      def start_at_zero(jobs)
        @jobs = jobs.sort_by(&:enqueued_at)
        start = @jobs.first&.enqueued_at || 0.0
        @jobs.each do |job|
          job.enqueued_at -= start
          job.due_at -= start
        end
      end

      def job(row, line, source)
        enqueued_at = time(row["enqueued_at"], "enqueued_at", line, source)
        run_at = row["run_at"].to_s.strip.empty? ? enqueued_at : time(row["run_at"], "run_at", line, source)
        duration = Float(row["duration"], exception: false)
        raise Error, "#{source}:#{line}: duration must be seconds (got #{row["duration"].inspect})" unless duration&.>=(0)

        Job.new(enqueued_at, [run_at, enqueued_at].max, duration, row["queue"])
      end

      def time(value, column, line, source)
        Float(value, exception: false) || Time.iso8601(value.to_s.strip).to_f
      rescue ArgumentError
        raise Error, "#{source}:#{line}: #{column} must be seconds or an ISO 8601 time (got #{value.inspect})"
      end
    end
  end
end
