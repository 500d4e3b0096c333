module MiddleManagement
  autoload :SlackJob, "middle_management/slack_job" # through Active Job

  # Makes jobs that take a while, to watch the workforce follow the work:
  #   30.times { MiddleManagement::Slacker.delay.slack_for(10) }
  class Slacker
    def self.slack_for(seconds)
      sleep(Float(seconds))
      seconds
    end
  end

  # The same as a job object, for Delayed::Job.enqueue:
  #   Delayed::Job.enqueue(MiddleManagement::SlackerJob.new(10))
  SlackerJob = Struct.new(:seconds) do
    def perform
      Slacker.slack_for(seconds)
    end
  end
end
