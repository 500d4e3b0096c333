module MiddleManagement
  class Web
    # The chart's points for one pool and span: a point per sample (its
    # time, runnable jobs, workers Heroku had, what the work needed), each
    # one a real history row, so what the chart draws can be checked
    # against the rows. A week of looks is downsampled to at most MAX_POINTS.
    class Series
      MAX_POINTS = 1_000

      def initialize(samples, from:, to:)
        @samples = samples
        @from = from
        @to = to
      end

      def to_h
        kept = downsample(@samples)
        { from: @from, to: @to, samples: @samples.size, downsampled: kept.size < @samples.size,
          points: kept.map { |entry| point(entry) } }
      end

      private

      def point(entry)
        figures = entry.figures
        { at: entry.at, runnable: figures[:runnable].to_i, capped: figures[:capped] ? true : false,
          workers: figures[:quantity], needed: figures[:needed], running: figures[:running] }
      end

      # Consecutive samples in buckets; each bucket keeps its busiest
      # sample and the one with most workers, so no peak of either line is
      # smoothed away.
      def downsample(samples)
        return samples if samples.size <= MAX_POINTS

        size = (samples.size / (MAX_POINTS / 2.0)).ceil
        samples.each_slice(size).flat_map do |bucket|
          busiest = bucket.max_by { |entry| entry.figures[:runnable].to_i }
          widest = bucket.max_by { |entry| entry.figures[:quantity].to_i }
          busiest.equal?(widest) ? [busiest] : [busiest, widest].sort_by(&:at)
        end
      end
    end
  end
end
