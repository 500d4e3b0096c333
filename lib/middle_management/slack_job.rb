require "active_job"

module MiddleManagement
  # The Slacker as an Active Job job, for apps on GoodJob, Solid Queue or
  # any other Active Job adapter (loaded on first use: MiddleManagement
  # autoloads it, so apps without Active Job never load it):
  #   30.times { MiddleManagement::SlackJob.perform_later(10) }
  class SlackJob < ::ActiveJob::Base
    def perform(seconds) = Slacker.slack_for(seconds)
  end
end
